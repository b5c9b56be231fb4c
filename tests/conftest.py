"""Shared fixtures: tiny pipelines written to disk once and loaded through the real path."""

from __future__ import annotations

import asyncio
import contextlib
import os
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore", message=".*torchvision.*")


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"sd": DIR, "sdxl": DIR}``: tiny random-weight pipelines saved with save_pretrained."""
    from devtools.tiny import write_tiny_model

    root = tmp_path_factory.mktemp("models")
    return {family: write_tiny_model(root / f"tiny-{family}", family) for family in ("sd", "sdxl")}


@pytest.fixture(scope="session")
def loaded_models(tiny_model_dirs: dict[str, Path]):
    """The tiny pipelines loaded back from disk by ``load_model`` (once per session)."""
    from bot.logs import configure_logging
    from engine.model import load_model

    configure_logging("WARNING")
    return {family: load_model(str(path), "cpu") for family, path in tiny_model_dirs.items()}


@pytest.fixture(scope="session")
def dit_models(tmp_path_factory: pytest.TempPathFactory):
    """Tiny FLUX.1 and SD3 pipelines, written and loaded back by ``load_model`` (once)."""
    from devtools.tiny_dit import DIT_FAMILIES, write_tiny_dit_model
    from engine.model import load_model

    root = tmp_path_factory.mktemp("dit-models")
    return {
        family: load_model(str(write_tiny_dit_model(root / family, family)), "cpu")
        for family in DIT_FAMILIES
    }


@pytest.fixture
def sd_model(loaded_models):
    """The tiny SD 1.x-style model."""
    return loaded_models["sd"]


@pytest.fixture(scope="session")
def sd_model_copy(tiny_model_dirs: dict[str, Path]):
    """A second copy of the tiny SD model (a second device's pipeline: two workers never
    share one)."""
    from engine.model import load_model

    return load_model(str(tiny_model_dirs["sd"]), "cpu")


@pytest.fixture
async def make_services(sd_model, tmp_path):
    """The one way tests build services: ``await make_services(started=..., clock=...,
    gate=..., model=..., ip_adapters=..., describer=..., fetch_url=..., **limits)``, over
    real SQLite in ``tmp_path/data`` and the tiny SD pipeline (or ``model``).
    With ``started=False`` the engine never runs a job (they stay queued); with a
    ``tests.gates.StepGate`` every pipeline call waits at its step until the test opens
    it. All of it is closed at the end of the test, services first."""
    from core.encoders import EncoderPool
    from core.limits import Limits
    from core.services import open_services
    from engine import Engine
    from storage.db import Storage, utc_now
    from tests.gates import gated

    async with contextlib.AsyncExitStack() as stack:

        async def make(
            *,
            started=True,
            clock=None,
            gate=None,
            encoders=None,
            model=None,
            ip_adapters=None,
            describer=None,
            fetch_url=None,
            **limits,
        ):
            storage = await stack.enter_async_context(
                Storage(tmp_path / "data", clock=clock or utc_now)
            )
            # The engine waits for room in the encoder pool (the test's own, or one of
            # its own), as the bot's does; the pool is closed after the services.
            pool = encoders or EncoderPool()
            model = model or sd_model  # another loaded model: dit_models["flux"], say
            model = model if gate is None else gated(model, gate)
            if ip_adapters is not None:  # family -> IP-Adapter folder (image references)
                from engine.resident import Resident

                model = Resident.single(model)
                model.ip_adapters = dict(ip_adapters)
            engine = Engine(model, room=pool.wait_for_room)
            if started:
                await stack.enter_async_context(engine)
            else:
                stack.push_async_callback(engine.stop)
            stack.push_async_callback(asyncio.to_thread, pool.close)
            return await stack.enter_async_context(
                open_services(
                    storage,
                    engine,
                    Limits(**limits),
                    pool,
                    describer=describer,
                    fetch_url=fetch_url,
                )
            )

        yield make

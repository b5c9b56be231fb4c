"""The composition root's parts, for the bot, the CLI and the benchmark alike.

``open_app(settings)`` opens storage, loads the model into an engine and builds the
services, and closes them in reverse order; the Discord client is added on top of it by
``python -m bot`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from bot.settings import Settings, SettingsError
from core.limits import Limits
from core.services import Services, open_services
from engine import Engine
from storage.db import Storage


@dataclass(frozen=True, slots=True)
class App:
    """Everything the bot runs on, open."""

    settings: Settings
    storage: Storage
    engine: Engine
    services: Services


@contextlib.asynccontextmanager
async def open_app(settings: Settings, *, nsfw_filter: bool = True) -> AsyncIterator[App]:
    """Storage, then the engine (the model loads off the event loop), then the services;
    closed in reverse order. ``nsfw_filter=False`` skips the classifier (the CLI's files
    are the operator's own)."""
    async with Storage(settings.data_dir) as storage:
        if settings.engine == "ray":
            engine = await open_ray(settings, nsfw_filter=nsfw_filter)
        else:
            engine = await asyncio.to_thread(load_engine, settings, nsfw_filter=nsfw_filter)
        limits = Limits.from_settings(settings)
        try:
            async with engine, open_services(storage, engine, limits) as services:
                yield App(settings, storage, engine, services)
        finally:
            if settings.engine == "ray":
                from engine.ray_engine import shutdown

                await asyncio.to_thread(shutdown)


async def open_ray(settings: Settings, *, nsfw_filter: bool = True) -> Engine:
    """``ENGINE=ray``: the replicas deployed on the cluster at ``RAY_ADDRESS`` (a local one
    when empty), each loading ``MODEL_ID`` (and the NSFW classifier unless it is off)."""
    try:
        from engine.ray_engine import open_ray_engine
    except ImportError as exc:
        raise SettingsError(
            f'ENGINE=ray needs Ray Serve ({exc.name} is missing): pip install -e ".[ray]"'
        ) from exc
    nsfw = None
    if nsfw_filter and settings.nsfw_filter != "off":
        nsfw = {"model": settings.nsfw_model, "threshold": settings.nsfw_threshold}
    # One device per replica: a list of GPUs (or cuda:all) is the bot's own; Ray gives
    # each replica its GPU.
    several = "," in settings.device or settings.device == "cuda:all"
    device = "auto" if several else settings.device
    try:
        return await open_ray_engine(
            settings.model_id,
            replicas=settings.ray_replicas,
            max_batch_images=settings.max_batch_images,
            address=settings.ray_address,
            device=device,
            nsfw=nsfw,
        )
    except (ConnectionError, RuntimeError) as exc:  # no cluster there; replicas that fail
        from engine.ray_engine import shutdown

        await asyncio.to_thread(shutdown)  # a local cluster started for it, and its token
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = settings.ray_address or "(a local cluster)"
        raise SettingsError(
            f"ENGINE=ray: the replicas did not start on RAY_ADDRESS={where} ({first}); "
            "check that MODEL_ID and NSFW_MODEL load on the cluster's machines"
        ) from exc


def load_engine(settings: Settings, *, nsfw_filter: bool = True) -> Engine:
    """Load ``MODEL_ID`` (blocking) once per device in ``DEVICE`` (one worker each) and
    build the engine with the batch size for the device, and on each device the NSFW
    classifier unless ``NSFW_FILTER=off`` (or ``nsfw_filter`` is False)."""
    from engine.model import load_model, pick_device

    devices = [pick_device(device) for device in settings.devices()]
    classifiers = None
    if nsfw_filter and settings.nsfw_filter != "off":
        classifiers = [load_classifier(settings, device) for device in devices]
    models = [load_model(settings.model_id, device) for device in devices]
    return Engine(
        models,
        max_batch_images=settings.batch_images(models[0].device),
        classifier=classifiers,
        worker_options=[{"name": device} for device in devices],
    )


def load_classifier(settings: Settings, device: str):
    """The NSFW classifier; a ``SettingsError`` when it cannot be loaded, since sending
    unfiltered images with the filter on would be worse than not starting."""
    from engine.nsfw import NsfwClassifier

    try:
        return NsfwClassifier.load(settings.nsfw_model, device, settings.nsfw_threshold)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SettingsError(
            f"NSFW_MODEL={settings.nsfw_model} could not be loaded ({first}); with "
            f"NSFW_FILTER={settings.nsfw_filter} the bot does not start without it "
            "(set NSFW_FILTER=off to run without the filter)"
        ) from exc

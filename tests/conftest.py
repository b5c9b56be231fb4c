"""Shared fixtures: tiny pipelines written to disk once and loaded through the real path."""

from __future__ import annotations

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


@pytest.fixture
def sd_model(loaded_models):
    """The tiny SD 1.x-style model."""
    return loaded_models["sd"]

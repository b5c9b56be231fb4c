"""Helpers of the storage tests: a queued job to write, a file's permission bits."""

from __future__ import annotations

import stat
from pathlib import Path

from core.model import JobParams, NewJob
from core.recipes import Imagine


def new_job(**overrides) -> NewJob:
    """An imagine job of user 42 in server 1, channel 2, with ``overrides`` applied."""
    fields = {
        "user_id": 42,
        "prompt": "a fox",
        "negative": "people",
        "seed": 7,
        "params": JobParams(width=192, height=128, steps=4, guidance=7.0),
        "recipe": Imagine(),
        "guild_id": 1,
        "channel_id": 2,
    }
    fields.update(overrides)
    return NewJob(**fields)


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)

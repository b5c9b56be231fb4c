"""Clips as jobs of the engine: what the worker hands back for one, and what the core reads
of the video model before it is loaded.

A clip job (``JobSpec.clip``) is a job like any other (the fair queue, progress, cancel at
a step boundary, the worker's memory budget: the video model is one of the worker's
resident models), but a call of its own: its shape is its own id, so it never fuses.
The worker runs it (``engine.video.run_clip``) and returns ``ClipFrames``; its output
carries the frames, and as images about one frame a second (the first and last among
them), which the NSFW step classifies like any image.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.model import FamilyDefaults
from engine.types import JobOutput

VIDEO_ALIAS = "video"  # the video model's alias among a worker's models


CLIP_SETTINGS = "clip.json"  # a local model folder may state its clips' defaults


class Fetch:
    """Whether the video model's files are still being fetched from the hub (the bot
    fetches them at start on a thread of its own, ``engine.video.prefetch``: tens of GB
    that a first clip would otherwise download on a worker's thread, holding every image
    job behind it). Meanwhile clips are refused, saying so."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._done.set()

    def __reduce__(self) -> tuple[type[Fetch], tuple[()]]:
        """A copy elsewhere (pickled, deep-copied) is a fetch of its own, not under way."""
        return (Fetch, ())

    @property
    def busy(self) -> bool:
        """The fetch is under way."""
        return not self._done.is_set()

    def begin(self) -> None:
        """The fetch starts: ``busy`` until ``end``."""
        self._done.clear()

    def end(self) -> None:
        """The fetch is over, done or failed."""
        self._done.set()


@dataclass(frozen=True, slots=True)
class VideoOffer:
    """The video model a bot offers (``VIDEO_MODEL``), known before it is loaded: its
    alias on the workers, its name (what a clip job stores), its family's defaults (steps,
    guidance, ``native_size``: a clip's long side), and a clip's frames and rate."""

    alias: str
    name: str
    defaults: FamilyDefaults
    frames: int
    fps: int
    fetch: Fetch = field(default_factory=Fetch, compare=False, repr=False)

    @classmethod
    def of(cls, source: str, alias: str = VIDEO_ALIAS) -> VideoOffer:
        """What the core reads of ``source`` before it loads: its family's defaults, or
        what a local folder's ``clip.json`` says (``side``, ``frames``, ``fps``,
        ``steps``: a test model draws small, short clips)."""
        import dataclasses
        import json

        from engine.model import name_of
        from engine.video import CLIP_FPS, CLIP_FRAMES, video_defaults

        defaults, frames, fps = video_defaults(source), CLIP_FRAMES, CLIP_FPS
        stated = Path(source).expanduser() / CLIP_SETTINGS
        if stated.is_file():
            values = json.loads(stated.read_text(encoding="utf-8"))
            side = int(values.get("side", defaults.native_size))
            steps = int(values.get("steps", defaults.steps))
            defaults = dataclasses.replace(defaults, native_size=side, steps=steps)
            frames, fps = int(values.get("frames", frames)), int(values.get("fps", fps))
        return cls(alias, name_of(source), defaults, frames, fps)


@dataclass(frozen=True, slots=True)
class ClipFrames:
    """A clip the worker made: its frames (uint8, frames x height x width x 3) and rate."""

    frames: Any
    fps: int


def job_output(job_id: int, images: list, seconds: float) -> JobOutput:
    """The output of a finished job: a clip's (``images`` is one ``ClipFrames``) carries
    its frames and, as images, about one frame a second; an image job's as ever."""
    if len(images) != 1 or not isinstance(images[0], ClipFrames):
        return JobOutput(job_id, images, seconds)
    from PIL import Image

    clip = images[0]
    count = len(clip.frames)
    picked = sorted({*range(0, count, max(1, clip.fps)), count - 1})  # about one a second
    stills = [Image.fromarray(clip.frames[index]) for index in picked]
    return JobOutput(job_id, stills, seconds, clip=clip.frames, fps=clip.fps)


def encode_clip(frames: Any, fps: int, *, limit_bytes: int, **options: Any) -> Any:
    """``engine.clips.encode_clip`` (PyAV loads on first use, not with the engine)."""
    from engine.clips import encode_clip as encode

    return encode(frames, fps, limit_bytes=limit_bytes, **options)


def read_clip(data: bytes) -> tuple[Any, int]:
    """``engine.clips.read_clip``: a clip's frames and rate (PyAV loads on first use)."""
    from engine.clips import read_clip as read

    return read(data)


def read_recipe(data: bytes) -> dict[str, str]:
    """``engine.clips.read_recipe``: the recipe in a clip's metadata (PyAV on first use)."""
    from engine.clips import read_recipe as read

    return read(data)

"""GPU time: what each job spent on its worker's device, measured, and split fairly.

A pipeline call is timed on the device: with CUDA events on a GPU (the kernels' own time
on the call's stream, queued work included, host overhead between launches included as
the GPU waits for it), with the wall clock on a CPU or an Apple GPU. A call that fuses
several jobs is split by each job's share of the work, ``work_units``: images x steps run
x pixels (an image-to-image job runs ``strength`` of its steps; a clip counts its frames
as images). What was spent is spent: a call that fails or is cancelled is split the same
way, and a job retried alone adds its own call's time (``JobHandle.gpu_seconds``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from engine.handle import JobHandle
from engine.types import JobSpec

MEGAPIXEL = 1_000_000


def work_units(spec: JobSpec, images: int | None = None) -> float:
    """The work of ``images`` of ``spec``'s images (all of them by default) in one call:
    images x steps run x megapixels; a clip's frames count as images."""
    count = spec.num_images if images is None else images
    steps = spec.steps
    if spec.clip is not None:
        count, steps = spec.clip.frames, spec.clip.steps
    elif spec.source_image is not None and spec.mask_image is None and spec.paint is None:
        steps = max(1.0, steps * spec.strength)  # image-to-image skips the first steps
    return count * steps * spec.width * spec.height / MEGAPIXEL


def charge(items: Sequence[JobHandle], seconds: float, images: Sequence[int] | None = None) -> None:
    """Add ``seconds`` of one call to its jobs' ``gpu_seconds``, by their share of its
    work (``images``: each job's images in the call, by default all of its own)."""
    counts = list(images) if images is not None else [None] * len(items)
    units = [work_units(item.spec, count) for item, count in zip(items, counts, strict=True)]
    total = sum(units)
    for item, unit in zip(items, units, strict=True):
        share = unit / total if total > 0 else 1 / len(items)
        item.gpu_seconds += seconds * share


class DeviceTimer:
    """Times what runs inside ``with`` on ``device``: CUDA events on a CUDA device, the
    wall clock elsewhere (or when the events cannot be read: a device that failed)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.seconds = 0.0
        self._events: tuple[Any, Any] | None = None
        self._started = 0.0

    def __enter__(self) -> DeviceTimer:
        self._started = time.perf_counter()
        if self.device.startswith("cuda"):
            import torch

            with torch.cuda.device(self.device):
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
            self._events = (start, end)
        return self

    def __exit__(self, *exc_info: object) -> None:
        wall = time.perf_counter() - self._started
        self.seconds = wall
        if self._events is None:
            return
        import torch

        start, end = self._events
        try:
            with torch.cuda.device(self.device):
                end.record()
                end.synchronize()
            self.seconds = start.elapsed_time(end) / 1000.0
        except RuntimeError:  # the device failed mid-call: its clock with it
            self.seconds = wall

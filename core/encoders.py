"""The encoder pool: where finished jobs become files, beside the worker, never on it.

The worker thread only runs the pipeline; each finished job's images are turned into PNG
files, the grid and the thumbnail (``core.outputs.write_outputs``) on one of ``workers``
encoder threads (Pillow releases the GIL while it compresses, so two encoders use two
cores). The hand-off is bounded: at most ``max_pending`` jobs are being encoded or
waiting for an encoder; the engine asks ``wait_for_room`` before it hands the worker a
new batch, so when encoding falls behind, finished images do not pile up in memory: the
worker finishes the batch in hand and waits for room, instead of running ahead.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def default_encoders() -> int:
    """Two encoders where there are two cores or more (one keeps up with a turbo model's
    grids on most machines; the second takes the bursts)."""
    return max(1, min(2, os.cpu_count() or 1))


class EncoderPool:
    """``workers`` encoder threads and a bounded queue in front of them."""

    def __init__(self, workers: int | None = None, max_pending: int | None = None) -> None:
        self.workers = workers or default_encoders()
        self.max_pending = max_pending or 2 * self.workers + 2
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="encoder")
        self._pending = 0
        self._queued = 0  # finished jobs waiting for room (not yet pending)
        self._room: asyncio.Condition | None = None

    @property
    def pending(self) -> int:
        """Jobs being encoded or waiting for an encoder."""
        return self._pending

    @property
    def queued(self) -> int:
        """Finished jobs waiting for room in the hand-off (the bound is full)."""
        return self._queued

    def _condition(self) -> asyncio.Condition:
        if self._room is None:
            self._room = asyncio.Condition()
        return self._room

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on an encoder thread, once there is room for it."""
        room = self._condition()
        async with room:
            self._queued += 1
            try:
                await room.wait_for(lambda: self._pending < self.max_pending)
            finally:
                self._queued -= 1
            self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, function, *args)
        finally:
            async with room:
                self._pending -= 1
                room.notify_all()

    async def wait_for_room(self) -> None:
        """Until fewer than ``max_pending`` jobs wait for encoding (the engine asks this
        before each batch: back-pressure on the worker, never a block inside a call)."""
        room = self._condition()
        async with room:
            await room.wait_for(lambda: self._pending < self.max_pending)

    def close(self) -> None:
        """Let the encodes in flight finish; take no more."""
        self._executor.shutdown(wait=True)

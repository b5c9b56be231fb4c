"""A job in the engine: its one output future and its events, in order.

``Engine.submit`` returns a ``JobHandle``. The worker thread reports through it (start,
progress, the output or the error) with ``loop.call_soon_threadsafe``; the job's owner
awaits the handle for the output and reads ``events()`` for what happened on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any

from engine.types import JobOutput, JobSpec, Progress

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """The job was cancelled before or while it ran."""


@dataclass(frozen=True, slots=True)
class JobStarted:
    """The job was handed to the worker (it runs in the next pipeline call)."""

    job_id: int


JobUpdate = JobStarted | Progress


def settle_threadsafe(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future,
    result: Any = None,
    error: BaseException | None = None,
) -> None:
    """Resolve ``future`` (once) on its loop, from any thread; nothing if the loop closed."""

    def settle() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting any more
        loop.call_soon_threadsafe(settle)


class JobHandle:
    """One submitted job: ``await handle`` gives its ``JobOutput`` (or raises its error),
    ``handle.events()`` its start and progress, in the order they happened."""

    def __init__(self, spec: JobSpec, order: int) -> None:
        self.spec = spec
        self.order = order  # submission order, for the fair scheduler
        self.loop = asyncio.get_running_loop()
        self.output: asyncio.Future[JobOutput] = self.loop.create_future()
        self.cancelled = threading.Event()  # read by the worker between and during steps
        self.requeued = False  # given back once by a worker that was lost mid-batch
        self.passed_over = False  # a job of a resident model went first once (scheduler)
        # Device seconds its calls spent, its share of fused ones (engine.gpu_time); set by
        # the worker before the outcome, read by the job's owner after it.
        self.gpu_seconds = 0.0
        # Settled when its worker is through with it (``gpu_seconds`` final): later than
        # the output for a running job cancelled from the loop, whose call stops a step on.
        self.charged: asyncio.Future[None] = self.loop.create_future()
        self._updates: asyncio.Queue[JobUpdate | None] = asyncio.Queue()
        # The outcome is read even when nobody awaits it any more (its owner stopped at
        # shutdown), so that asyncio does not report an error as never retrieved.
        self.output.add_done_callback(_retrieve)

    def __await__(self) -> Generator[Any, None, JobOutput]:
        return self.output.__await__()

    async def events(self) -> AsyncIterator[JobUpdate]:
        """Start and progress, in order; ends once the output is settled."""
        while (update := await self._updates.get()) is not None:
            yield update

    # on the loop

    def report(self, update: JobUpdate) -> None:
        """Add an update to the stream (while the job is not finished)."""
        if not self.output.done():
            self._updates.put_nowait(update)

    def finish(self, output: JobOutput | None, error: BaseException | None) -> None:
        """Settle the output (once) and end the stream."""
        if self.output.done():
            return
        if error is not None:
            self.output.set_exception(error)
        else:
            self.output.set_result(output)  # type: ignore[arg-type]
        self._updates.put_nowait(None)

    def through(self) -> None:
        """Its worker is through with it: ``gpu_seconds`` holds all it spent."""
        if not self.charged.done():
            self.charged.set_result(None)

    def abandon(self) -> None:
        """The engine stops without running it: cancel the output, end the stream."""
        if not self.output.done():
            self.output.cancel()
            self._updates.put_nowait(None)

    # from the worker thread

    def report_threadsafe(self, update: JobUpdate) -> None:
        """``report`` from the worker thread."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.report, update)

    def finish_threadsafe(self, output: JobOutput | None, error: BaseException | None) -> None:
        """``finish`` from the worker thread (a no-op when the loop has closed)."""
        try:
            self.loop.call_soon_threadsafe(self.finish, output, error)
            self.loop.call_soon_threadsafe(self.through)
        except RuntimeError:
            logger.info("job %s finished after its loop closed", self.spec.job_id)


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()

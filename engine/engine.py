"""The asyncio side of the engine: the job queue and the scheduler that feeds the worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from engine.model import LoadedModel, load_model
from engine.types import JobOutput, JobSpec
from engine.worker import JobCancelled, ProgressCallback, Worker

logger = logging.getLogger(__name__)


@dataclass
class _Pending:
    spec: JobSpec
    future: asyncio.Future
    on_progress: ProgressCallback | None
    on_start: Callable[[], None] | None


class Engine:
    """Queues jobs on the event loop and runs them, in order, on the single worker thread."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self._worker = Worker(model)
        self._queue: deque[_Pending] = deque()
        self._running: _Pending | None = None
        self._wakeup = asyncio.Event()
        self._scheduler: asyncio.Task | None = None

    @classmethod
    def load(cls, model_id: str, device: str = "auto") -> Engine:
        """Load a model (blocking, once at start) and wrap it in an engine."""
        return cls(load_model(model_id, device))

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the worker thread and the scheduler task."""
        self._worker.start()
        if self._scheduler is None:
            self._scheduler = asyncio.create_task(self._schedule(), name="engine-scheduler")

    async def stop(self) -> None:
        """Stop taking work; the job on the worker finishes, queued ones stay queued."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
            self._scheduler = None
        for pending in self._queue:
            if not pending.future.done():
                pending.future.cancel()
        self._queue.clear()
        await self._worker.stop()

    def submit(
        self,
        spec: JobSpec,
        on_progress: ProgressCallback | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> asyncio.Future:
        """Queue a job; the future resolves to its ``JobOutput`` or raises its error.

        ``on_start`` is called on the loop when the job is handed to the worker.
        """
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(spec, future, on_progress, on_start))
        self._wakeup.set()
        return future

    def position(self, job_id: int) -> int | None:
        """0 while the job runs, 1.. while it waits, None when the engine does not hold it."""
        if self._running is not None and self._running.spec.job_id == job_id:
            return 0
        for index, pending in enumerate(self._queue, start=1):
            if pending.spec.job_id == job_id:
                return index
        return None

    @property
    def queue_length(self) -> int:
        """Jobs waiting, not counting the one running."""
        return len(self._queue)

    def cancel(self, job_id: int) -> bool:
        """Drop a waiting job or stop a running one at its next step; True if it was held."""
        for pending in self._queue:
            if pending.spec.job_id == job_id:
                self._queue.remove(pending)
                pending.future.set_exception(JobCancelled(f"job {job_id} cancelled"))
                return True
        return self._worker.cancel(job_id)

    async def _schedule(self) -> None:
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            pending = self._queue.popleft()
            self._running = pending
            if pending.on_start is not None:
                pending.on_start()
            try:
                output: JobOutput = await self._worker.run(pending.spec, pending.on_progress)
            except asyncio.CancelledError:
                if not pending.future.done():
                    pending.future.cancel()
                raise
            except BaseException as exc:  # one job's failure never stops the scheduler
                if not pending.future.done():
                    pending.future.set_exception(exc)
            else:
                if not pending.future.done():
                    pending.future.set_result(output)
            finally:
                self._running = None

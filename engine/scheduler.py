"""The asyncio side of the engine: the fair queue and the scheduler that feeds the worker.

The next job comes from the owner served least recently, so one user with five jobs
cannot hold back the others. Waiting jobs of the same shape as that job are fused into
the same pipeline call, taken in the same fair order, up to ``max_batch_images`` images.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from engine.handle import JobCancelled, JobHandle
from engine.model import LoadedModel
from engine.types import JobSpec
from engine.worker import Worker

logger = logging.getLogger(__name__)


def default_batch_images(device: str) -> int:
    """Images per pipeline call when ``MAX_BATCH_IMAGES`` is not set: 16 on CUDA (four
    grids fill a modern GPU), 8 elsewhere (on a CPU compute grows with the batch)."""
    return 16 if device.startswith("cuda") else 8


class Queued(Protocol):
    """What the fair order reads of a waiting job."""

    spec: JobSpec
    order: int  # submission order


Q = TypeVar("Q", bound=Queued)


def fair_order(waiting: Iterable[Q], last_served: dict[int, int]) -> list[Q]:
    """The order jobs would run in: round-robin, least recently served owner first.

    Owners never served come first, then by when they were last served; each owner's
    own jobs keep their submission order; ties go to the earlier submission.
    """
    queues: dict[int, list[Q]] = {}
    for pending in sorted(waiting, key=lambda p: p.order):
        queues.setdefault(pending.spec.owner, []).append(pending)
    served = dict(last_served)
    clock = max(served.values(), default=0)
    order: list[Q] = []
    while queues:
        owner = min(queues, key=lambda o: (served.get(o, -1), queues[o][0].order))
        order.append(queues[owner].pop(0))
        if not queues[owner]:
            del queues[owner]
        clock += 1
        served[owner] = clock
    return order


@dataclass
class EngineStats:
    """What the worker has been given: pipeline calls (batches), jobs and images."""

    batches: int = 0
    jobs: int = 0
    images: int = 0


class Engine:
    """Queues jobs on the event loop and runs them, fairly and fused, on the worker thread."""

    def __init__(
        self,
        model: LoadedModel,
        *,
        max_batch_images: int = 8,
        batching: bool = True,
        preview_interval: float = 2.0,
        progress_interval: float = 0.25,
        classifier: object = None,
    ) -> None:
        self.model = model
        self.max_batch_images = max(1, max_batch_images)
        self.batching = batching
        self._worker = Worker(
            model,
            preview_interval=preview_interval,
            progress_interval=progress_interval,
            classifier=classifier,
        )
        self._waiting: list[JobHandle] = []
        self._running: list[JobHandle] = []  # the batch on the worker
        self._next: list[JobHandle] = []  # the batch handed over behind it, if any
        self._last_served: dict[int, int] = {}
        self._serve_clock = itertools.count(1)
        self._submitted = itertools.count()
        self._wakeup = asyncio.Event()
        self._scheduler: asyncio.Task | None = None
        self.stats = EngineStats()
        # Awaited before each batch is handed to the worker: room for its results
        # downstream (the encoder pool's bound); None: always room.
        self.room: Callable[[], Awaitable[None]] | None = None

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
        """Stop taking work; the batch on the worker finishes, waiting jobs are dropped
        (their rows stay queued for the next start)."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
            self._scheduler = None
        for handle in self._waiting:
            handle.abandon()
        self._waiting.clear()
        await self._worker.stop()

    def submit(self, spec: JobSpec) -> JobHandle:
        """Queue a job. Await the handle for its ``JobOutput`` (or its error); its
        ``events()`` say when it starts and how far it is."""
        handle = JobHandle(spec, next(self._submitted))
        self._waiting.append(handle)
        self._wakeup.set()
        return handle

    def position(self, job_id: int) -> int | None:
        """0 while the job runs, 1.. in the fair order while it waits, None if not held."""
        return self.positions().get(job_id)

    def positions(self) -> dict[int, int]:
        """Every held job's position (0 running, 1 handed to the worker next, 1.. waiting)."""
        result = {p.spec.job_id: 0 for p in self._running}
        result.update({p.spec.job_id: 1 for p in self._next})
        first = 2 if self._next else 1
        for index, pending in enumerate(fair_order(self._waiting, self._last_served), first):
            result[pending.spec.job_id] = index
        return result

    @property
    def call_seconds(self) -> float:
        """Seconds the worker has spent in pipeline calls for jobs since it started."""
        return self._worker.call_seconds

    def run_on_worker(self, function: Callable[[], object]) -> asyncio.Future:
        """Run ``function`` on the worker thread (the only one that touches torch)."""
        return self._worker.call(function)

    @property
    def queue_length(self) -> int:
        """Jobs waiting, not counting those running."""
        return len(self._waiting)

    def cancel(self, job_id: int) -> bool:
        """Drop a waiting job or stop a running one at its next step; True if it was held."""
        for handle in self._waiting:
            if handle.spec.job_id == job_id:
                self._waiting.remove(handle)
                handle.finish(None, JobCancelled(f"job {job_id} cancelled"))
                return True
        for handle in self._running + self._next:
            if handle.spec.job_id == job_id:
                # The worker drops it from the fused call, or interrupts the call at its
                # next step when no job in it is left.
                handle.cancelled.set()
                handle.finish(None, JobCancelled(f"job {job_id} cancelled"))
                return True
        return False

    def next_batch(self) -> list[JobHandle]:
        """Take the next batch off the queue: the fairly chosen job and, with batching on,
        same-shape jobs in fair order while the images fit in ``max_batch_images``."""
        order = fair_order(self._waiting, self._last_served)
        if not order:
            return []
        first = order[0]
        batch = [first]
        images = first.spec.num_images
        if self.batching:
            for pending in order[1:]:
                if pending.spec.shape != first.spec.shape:
                    continue
                if images + pending.spec.num_images > self.max_batch_images:
                    continue
                batch.append(pending)
                images += pending.spec.num_images
        for pending in batch:
            self._waiting.remove(pending)
            self._last_served[pending.spec.owner] = next(self._serve_clock)
        return batch

    async def _schedule(self) -> None:
        while True:
            while not self._waiting:
                self._wakeup.clear()
                await self._wakeup.wait()
            if self.room is not None:
                await self.room()  # results still being encoded: do not run ahead of them
                if not self._waiting:  # cancelled meanwhile
                    continue
            batch = self.next_batch()
            if len(batch) > 1:
                logger.info(
                    "fused jobs %s into one call (%d images)",
                    [p.spec.job_id for p in batch],
                    sum(p.spec.num_images for p in batch),
                )
            self.stats.batches += 1
            self.stats.jobs += len(batch)
            self.stats.images += sum(p.spec.num_images for p in batch)
            # The worker reports each job started when it takes the batch up.
            handoff = self._worker.run_batch(batch)
            if self._running:
                self._next = batch
            else:
                self._running = batch
            handoff.done.add_done_callback(lambda _, done=batch: self._off_worker(done))
            # The next batch is chosen when this one reaches its last step (or ends): late
            # enough to be fair and to fuse what came meanwhile, early enough that the
            # worker finds it waiting when this one is decoded.
            await asyncio.wait((handoff.ending, handoff.done), return_when=asyncio.FIRST_COMPLETED)

    def _off_worker(self, batch: list[JobHandle]) -> None:
        """The worker is through with ``batch``: the one behind it, if any, runs now."""
        if batch is self._running:
            self._running, self._next = self._next, []
        elif batch is self._next:  # given back when the engine stopped
            self._next = []

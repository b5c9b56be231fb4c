"""The asyncio side of the engine: the fair queue and the scheduler that feeds the workers.

The next job comes from the owner served least recently, so one user with five jobs
cannot hold back the others. Waiting jobs of the same shape as that job are fused into
the same pipeline call, taken in the same fair order, up to ``max_batch_images`` images.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from engine.clip_jobs import VideoOffer
from engine.fairness import chosen_batch, fair_order
from engine.faults import Returned
from engine.handle import JobCancelled, JobHandle
from engine.inbox import Handoff
from engine.nsfw_step import classify_on
from engine.protocols import Model, Pipelines, Room, Worker, WorkerHooks
from engine.resident import Resident

if TYPE_CHECKING:
    from engine.loras import LoraFile
from engine.slots import Slot, free_slot, local_workers, offered_by, requeued
from engine.types import JobSpec, WorkerState

logger = logging.getLogger(__name__)


def default_batch_images(device: str) -> int:
    """Images per pipeline call when ``MAX_BATCH_IMAGES`` is not set: 16 on CUDA (four
    grids fill a modern GPU), 8 elsewhere (on a CPU compute grows with the batch)."""
    return 16 if device.startswith("cuda") else 8


def held_positions(
    slots: Sequence[Slot], waiting: Iterable[JobHandle], last_served: dict[int, int]
) -> dict[int, int]:
    """Every held job's position: 0 running, 1 handed to a worker next, then the fair
    order of the waiting ones."""
    result = {p.spec.job_id: 0 for slot in slots for p in slot.running}
    handed = [p for slot in slots for p in slot.next]
    result.update({p.spec.job_id: 1 for p in handed})
    first = 2 if handed else 1
    for index, pending in enumerate(fair_order(waiting, last_served), first):
        result[pending.spec.job_id] = index
    return result


def relax_waits(slot: Slot, waiting: Iterable[JobHandle]) -> bool:
    """Only relax work waits and ``slot``'s worker is busy: it waits for an idle one.
    Handed ahead, behind the running batch, it would hold back a fast job that comes
    meanwhile."""
    return bool(slot.running) and all(p.spec.relax for p in waiting)


@dataclass
class EngineStats:
    """What the worker has been given: pipeline calls (batches), jobs and images."""

    batches: int = 0
    jobs: int = 0
    images: int = 0


class Engine:
    """Queues jobs on the event loop and runs them, fairly and fused, on the workers: one
    thread per device (``model``: a pipeline per device; with a ``classifier``, results
    pass the NSFW step, ``engine.nsfw_step``), or ``workers`` of another kind (Ray Serve
    replicas, ``engine.ray_engine``; ``model`` then describes what they run). The
    scheduler alone decides what runs next; it hands each batch to the first free worker
    once ``room`` returns (back-pressure: the encoder pool's bound; None: always room). A
    worker whose device is lost is retired and its batches go back to the queue: a job
    that had started is re-queued once, then fails (``WorkerLost``). ``hooks``: a test's
    gates on the local workers."""

    def __init__(
        self,
        model: Pipelines | Resident | Sequence[Pipelines | Resident] | Model,
        *,
        max_batch_images: int = 8,
        batching: bool = True,
        preview_interval: float = 2.0,
        progress_interval: float = 0.25,
        classifier: object = None,
        worker_options: Sequence[dict] | None = None,
        workers: Sequence[Worker] | None = None,
        room: Room | None = None,
        hooks: WorkerHooks | None = None,
        models: Mapping[str, Model] | None = None,
        default_model: str = "default",
        loras: Mapping[str, LoraFile] | None = None,
        ip_adapters: Mapping[str, str] | None = None,
        video: VideoOffer | None = None,
    ) -> None:
        if workers is None:
            held = list(model) if isinstance(model, Sequence) else [model]
            residents = [
                m if isinstance(m, Resident) else Resident.single(cast(Pipelines, m)) for m in held
            ]
            workers, self._steps = local_workers(
                residents, classifier, worker_options, preview_interval, progress_interval, hooks
            )
            models, default_model, loras, ip_adapters = offered_by(residents)
            video = residents[0].video
        else:
            self._steps = []
            models = dict(models or {default_model: cast(Model, model)})
        # What the core reads of every model (summaries: not in memory), the default's alias.
        self.models: dict[str, Model] = dict(models)
        self.video = video  # VIDEO_MODEL, loaded by a worker when a clip first needs it
        self.default_model = default_model
        self.loras: dict[str, LoraFile] = dict(loras or {})  # LORA_DIR's, by name
        self.ip_adapters: dict[str, str] = dict(ip_adapters or {})  # family -> IP-Adapter
        if default_model not in self.models:
            raise ValueError(f"the default model {default_model!r} is not among the models")
        self.max_batch_images = max(1, max_batch_images)
        self.batching = batching
        self._slots = [Slot(worker) for worker in workers]
        self._waiting: list[JobHandle] = []
        self._last_served: dict[int, int] = {}
        self._serve_clock = itertools.count(1)
        self._submitted = itertools.count()
        self._wakeup = asyncio.Event()
        self._scheduler: asyncio.Task | None = None
        self._room = room
        self._positions: dict[int, int] | None = None  # the fair order, until it changes
        self.stats = EngineStats()

    @property
    def model(self) -> Model:
        """The default model (what a job that names none runs)."""
        return self.models[self.default_model]

    def alias_of(self, name: str) -> str | None:
        """The alias of the model a job names (its stored name; empty: the default),
        None when no worker runs it. One model offered runs every job, as before MODELS
        (an operator who changes MODEL_ID keeps the old grids' buttons)."""
        if not name or len(self.models) == 1 or self.model.name == name:
            return self.default_model
        return next((alias for alias, m in self.models.items() if m.name == name), None)

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the worker threads and the scheduler task."""
        for slot in self._slots:
            slot.worker.start()
        if self._scheduler is None:
            self._scheduler = asyncio.create_task(self._schedule(), name="engine-scheduler")

    async def stop(self) -> None:
        """Stop taking work: running batches finish, waiting jobs are dropped (queued rows)."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
            self._scheduler = None
        for handle in self._waiting:
            handle.abandon()
        self._waiting.clear()
        self._changed()
        await asyncio.gather(*(slot.worker.stop() for slot in self._slots))
        for step in self._steps:  # the workers' last verdicts settle their jobs
            await asyncio.to_thread(step.close)

    async def classify(self, images: list) -> list[bool] | None:
        """NSFW verdicts on images the bot shows but did not make (None: no classifier)."""
        return await classify_on(self._steps, images)

    def submit(self, spec: JobSpec) -> JobHandle:
        """Queue a job: await the handle for its ``JobOutput`` (or error); ``events()``."""
        handle = JobHandle(spec, next(self._submitted))
        self._waiting.append(handle)
        self._changed()
        self._wakeup.set()
        return handle

    def position(self, job_id: int) -> int | None:
        """0 while the job runs, 1.. in the fair order while it waits, None if not held."""
        return self.positions().get(job_id)

    def positions(self) -> dict[int, int]:
        """Every held job's position (0 running, 1 handed to a worker next, 1.. waiting),
        read-only: the fair order is built once per change of the queue, however many
        waiting messages ask between two changes."""
        if self._positions is None:
            self._positions = held_positions(self._slots, self._waiting, self._last_served)
        return self._positions

    def _changed(self) -> None:
        """The queue or a worker's batches changed: the positions are built anew."""
        self._positions = None

    def workers(self) -> list[WorkerState]:
        """Each worker: its device, whether it serves, and why not."""
        return [slot.state for slot in self._slots]

    @property
    def call_seconds(self) -> float:
        """Seconds the workers have spent in pipeline calls for jobs since they started."""
        return sum(slot.worker.call_seconds for slot in self._slots)

    def run_on_worker(self, function: Callable[[], object], index: int = 0) -> asyncio.Future:
        """Run ``function`` on a worker's thread (the only one that touches its torch)."""
        return self._slots[index].worker.call(function)

    @property
    def queue_length(self) -> int:
        """Jobs waiting, not counting those running."""
        return len(self._waiting)

    def cancel(self, job_id: int) -> bool:
        """Drop a waiting job or stop a running one at its next step; True if it was held."""
        for handle in self._waiting:
            if handle.spec.job_id == job_id:
                self._waiting.remove(handle)
                self._changed()
                handle.finish(None, JobCancelled(f"job {job_id} cancelled"))
                return True
        for handle in (p for slot in self._slots for p in slot.held()):
            if handle.spec.job_id == job_id:
                # The worker drops it from the fused call, or interrupts the call at its
                # next step when no job in it is left.
                handle.cancelled.set()
                handle.finish(None, JobCancelled(f"job {job_id} cancelled"))
                return True
        return False

    def next_batch(self, holds: Callable[[str], bool] | None = None) -> list[JobHandle]:
        """Take the next batch off the queue: the fairly chosen job and, with batching on,
        same-shape jobs in fair order while the images fit in ``max_batch_images``.
        ``holds``: whether the worker has a model on its device (``resident_first``: a
        job whose model is there may go first, a job is passed over once at most)."""
        batch = chosen_batch(
            self._waiting,
            self._last_served,
            holds,
            self.default_model,
            self.max_batch_images if self.batching else 1,
        )
        for pending in batch:
            self._waiting.remove(pending)
            self._last_served[pending.spec.owner] = next(self._serve_clock)
        self._changed()
        return batch

    def _free_slot(self, model: str = "") -> Slot | None:
        """The worker to hand the next batch to (``slots.free_slot``)."""
        return free_slot(self._slots, model or self.default_model)

    async def _schedule(self) -> None:
        while True:
            slot = self._free_slot()
            if not (self._waiting and slot is not None):
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if relax_waits(slot, self._waiting):
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._room is not None:
                await self._room()  # results still being encoded: do not run ahead of them
                slot = self._free_slot()
                if not (self._waiting and slot is not None):  # changed meanwhile
                    continue
            batch = self.next_batch(slot.holds)
            # The worker that holds the batch's model, where several are free.
            self._hand(self._free_slot(batch[0].spec.model) or slot, batch)

    def _hand(self, slot: Slot, batch: list[JobHandle]) -> None:
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
        handoff = slot.worker.run_batch(batch)
        if slot.running:
            slot.next, slot.next_handoff = batch, handoff
        else:
            slot.running, slot.running_handoff = batch, handoff
        self._changed()
        # The next batch is chosen when this one reaches its last step (or ends): late
        # enough to be fair and to fuse what came meanwhile, early enough that the
        # worker finds it waiting when this one is decoded.
        handoff.ending.add_done_callback(lambda _: self._wakeup.set())
        handoff.done.add_done_callback(functools.partial(self._off_worker, slot, batch, handoff))

    def _off_worker(
        self, slot: Slot, batch: list[JobHandle], handoff: Handoff, done: asyncio.Future
    ) -> None:
        """The worker is through with ``batch``: the one behind it, if any, runs now; a
        batch it gives back goes back to the queue (in its fair place)."""
        slot.through_with(batch)
        self._changed()
        returned = None if done.cancelled() else done.result()
        if isinstance(returned, Returned):
            if returned.retired and not slot.lost:
                slot.retire(str(returned.error) or type(returned.error).__name__, self._slots)
            if back := requeued(batch, returned):
                logger.warning("jobs %s go back to the queue", [h.spec.job_id for h in back])
                self._waiting.extend(back)
                self._changed()
        self._wakeup.set()

"""The workers behind an engine's scheduler and what each holds: built one per loaded
model (each with its outlet: the NSFW step or straight to the jobs), or given (Ray Serve
replicas); a slot is a worker with the batch it runs and at most one behind it, and what
happens to a batch the worker gives back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from engine.faults import Returned, WorkerLost
from engine.handle import JobHandle
from engine.inbox import Handoff
from engine.nsfw_step import NsfwStep, Straight
from engine.protocols import Model, Outlet, Worker, WorkerHooks
from engine.resident import Resident
from engine.types import WorkerState

if TYPE_CHECKING:
    from engine.loras import LoraFile
from engine.worker import Worker as LocalWorker

logger = logging.getLogger(__name__)


def local_workers(
    models: list[Resident],
    classifier: object,
    worker_options: Sequence[dict] | None,
    preview_interval: float,
    progress_interval: float,
    hooks: WorkerHooks | None,
) -> tuple[list[LocalWorker], list[NsfwStep]]:
    """One worker thread per device's models, each with its outlet: the NSFW step when it has
    a classifier (``classifier``: one for all or one per model), else straight to the
    jobs. The workers, and their NSFW steps."""
    if not models:
        raise ValueError("an engine needs at least one loaded model")
    classifiers = classifier if isinstance(classifier, list) else [classifier] * len(models)
    options = list(worker_options or [{}] * len(models))
    if len(classifiers) != len(models) or len(options) != len(models):
        raise ValueError("one classifier and one set of worker options per model")
    workers, steps = [], []
    for loaded, checker, own in zip(models, classifiers, options, strict=True):
        outlet: Outlet = Straight()
        if checker is not None:
            outlet = NsfwStep(checker, own.get("name") or loaded.first.device)
            steps.append(outlet)
        worker = LocalWorker(
            loaded,
            preview_interval=preview_interval,
            progress_interval=progress_interval,
            outlet=outlet,
            hooks=hooks,
            **own,
        )
        workers.append(worker)
    return workers, steps


def offered_by(
    residents: list[Resident],
) -> tuple[dict[str, Model], str, dict[str, LoraFile], dict[str, str]]:
    """What the local workers offer: every model by alias (each a summary: it need not be
    in memory; one only another copy has loaded yet too), the default's alias, the LoRAs,
    the IP-Adapter source of each family that has one."""
    models: dict[str, Model] = {}
    for resident in reversed(residents):  # the first copy's own summaries win
        models.update(resident.summaries())
    first = residents[0]
    default = {first.default: models[first.default]} if first.default in models else {}
    return {**default, **models}, first.default, first.loras, first.ip_adapters


def free_slot(slots: Sequence[Slot], model: str) -> Slot | None:
    """The worker to hand the next batch to: an idle one first, else one whose batch is
    decoding with none behind it (it finds the next one waiting); among those, one that
    holds the batch's ``model`` on its device (no swap) when there is one."""
    for ready in (lambda s: s.idle, lambda s: s.ready_for_next):
        free = [slot for slot in slots if ready(slot)]
        holding = [slot for slot in free if slot.holds(model)]
        if free:
            return (holding or free)[0]
    return None


class Slot:
    """A worker and what it holds: the batch it runs and at most one handed over behind
    it (taken up as the running one decodes)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker  # a local Worker, or a RayWorker (engine.ray_engine)
        self.running: list[JobHandle] = []
        self.running_handoff: Handoff | None = None
        self.next: list[JobHandle] = []
        self.next_handoff: Handoff | None = None
        self.lost: str = ""  # why the worker no longer serves, once it does not

    @property
    def idle(self) -> bool:
        return not self.lost and not self.running

    @property
    def state(self) -> WorkerState:
        """The worker as /info and the metrics read it."""
        worker = self.worker
        return WorkerState(worker.name, not self.lost, self.lost, worker.call_seconds, worker.swaps)

    @property
    def ready_for_next(self) -> bool:
        """Running a batch that has reached its last step, with none behind it."""
        handoff = self.running_handoff
        return (
            not self.lost
            and bool(self.running)
            and not self.next
            and handoff is not None
            and handoff.ending.done()
        )

    def holds(self, model: str) -> bool:
        """Whether the worker has ``model`` (an alias) on its device now: a batch of it
        runs there without a swap. Replicas keep every model (``engine.ray_replica``)."""
        resident = getattr(self.worker, "resident", None)
        return resident is None or model in resident.on_device

    def held(self) -> list[JobHandle]:
        return self.running + self.next

    def through_with(self, batch: list[JobHandle]) -> None:
        """The worker is through with ``batch``: the one behind it, if any, runs now."""
        if batch is self.running:
            self.running, self.running_handoff = self.next, self.next_handoff
            self.next, self.next_handoff = [], None
        elif batch is self.next:  # given back when the engine stopped, or the worker lost
            self.next, self.next_handoff = [], None

    def retire(self, error: str, slots: Sequence[Slot]) -> None:
        """The worker's device is lost: it serves no more (``slots``: the engine's all)."""
        self.lost = error
        left = sum(1 for other in slots if not other.lost)
        logger.error(
            "worker %s lost (%s); serving with %d of %d workers",
            self.worker.name,
            error,
            left,
            len(slots),
        )
        if not left:
            logger.critical("no worker left: queued jobs wait for a restart")


def requeued(batch: list[JobHandle], returned: Returned) -> list[JobHandle]:
    """The jobs of a given-back batch that go back to the queue: every unfinished one,
    once for a job that had started; the second time it fails with the error."""
    error = str(returned.error) or type(returned.error).__name__
    back = []
    for handle in batch:
        if handle.output.done():
            continue
        if returned.started and handle.requeued:
            handle.finish(None, WorkerLost(f"its worker failed twice ({error})"))
            continue
        handle.requeued = handle.requeued or returned.started
        back.append(handle)
    return back

"""What the engine's parts need of each other, as protocols: the model a worker runs, the
worker the scheduler feeds, where a worker's results go, and the test seams of a worker.

A local ``engine.worker.Worker`` thread and a Ray Serve replica (``engine.ray_engine``)
are both a ``Worker``; a ``LoadedModel`` and the replicas' ``RemoteModel`` are both a
``Model``, and only a ``LoadedModel`` is the ``Pipelines`` a local worker runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from engine.handle import JobHandle
from engine.inbox import Handoff
from engine.model import FamilyDefaults
from engine.types import JobOutput, Progress

# The scheduler's back-pressure hook: awaited before each batch is handed to a worker,
# it returns once there is room downstream for the batch's results.
Room = Callable[[], Awaitable[None]]


@runtime_checkable
class Model(Protocol):
    """What the scheduler, the core and the runner read of the model every worker runs."""

    @property
    def name(self) -> str:
        """The model's name (its hub id or file), shown in /info and stored with a job."""
        ...

    @property
    def device(self) -> str:
        """Where it runs (``cuda``, ``cpu``, ``ray (cuda)``...)."""
        ...

    @property
    def defaults(self) -> FamilyDefaults:
        """Its family's steps, guidance and native size: a job's defaults."""
        ...

    @property
    def sampler(self) -> str:
        """The scheduler's class name, as a job's recipe names the sampler."""
        ...


@runtime_checkable
class Pipelines(Model, Protocol):
    """A model loaded on this machine: what a local worker calls (one thread per copy)."""

    @property
    def text2img(self) -> Any:
        """The text-to-image pipeline."""
        ...

    @property
    def img2img(self) -> Any:
        """The image-to-image pipeline, sharing the text-to-image one's components."""
        ...

    @property
    def inpaint(self) -> Any:
        """The inpainting pipeline, sharing the same components."""
        ...

    @property
    def masked_input(self) -> bool:
        """A 9-channel inpainting checkpoint: every job runs through ``inpaint``."""
        ...


@runtime_checkable
class Worker(Protocol):
    """What the scheduler needs of a worker: start and stop it, hand it a batch (and one
    behind it), run a function on its thread, and its name and pipeline seconds."""

    @property
    def name(self) -> str:
        """Its device or replica, as /info names it."""
        ...

    @property
    def call_seconds(self) -> float:
        """Seconds spent in pipeline calls for jobs."""
        ...

    @property
    def swaps(self) -> int:
        """Models brought onto its device (``engine.resident``); 0 where it cannot tell."""
        ...

    def start(self) -> None:
        """Start serving."""
        ...

    async def stop(self) -> None:
        """Finish the batch in hand; give back the batch handed over behind it."""
        ...

    def run_batch(self, items: Sequence[JobHandle]) -> Handoff:
        """Take a batch of same-shape jobs (call on the loop); see ``Handoff``."""
        ...

    def call(self, function: Callable[[], Any]) -> asyncio.Future:
        """Run ``function`` where the worker's torch runs (call on the loop)."""
        ...


@runtime_checkable
class Outlet(Protocol):
    """Where a worker's results go, from its thread, in the order it hands them over:
    straight to the jobs' handles (``engine.nsfw_step.Straight``) or through the NSFW
    step first (``engine.nsfw_step.NsfwStep``)."""

    def progress(self, reports: Sequence[tuple[JobHandle, Progress]]) -> None:
        """One pipeline step's progress for each live job of the call (with previews)."""
        ...

    def finish(self, item: JobHandle, output: JobOutput) -> None:
        """A job's images are made: settle its handle with them."""
        ...

    def then(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once everything handed over before it has reached the loop."""
        ...


@runtime_checkable
class WorkerHooks(Protocol):
    """A test's hold on a local worker, called on the worker's thread: the test decides
    when the worker runs (a gate it opens), never a clock. The product passes none."""

    def before_batch(self, items: Sequence[JobHandle]) -> None:
        """A batch was taken up (its jobs reported started) and is about to run."""
        ...

    def after_step(self, step: int) -> None:
        """A pipeline call finished its step ``step`` (0-based) and reported it."""
        ...

"""A Ray Serve replica of the engine (``ENGINE=ray``): one loaded pipeline and its worker.

Each replica loads ``MODEL_ID`` once (on its GPU where the cluster gives it one) and runs
the batches the bot's scheduler sends it on its own ``Worker`` thread, exactly as a
local worker does. ``run_batch`` streams back, in order, what the local worker reports
through a job's handle: ``JobStarted``, ``Progress`` (with its preview), ``Ending`` when
the call reaches its last step (the bot then sends the next batch), and each job's
``JobOutput`` (8-bit images: the bot encodes them, as it does for a local worker) or its
error as ``JobFailed``. A cancelled stream (the bot cancelled every job of the batch)
interrupts the pipeline at its next step.

Image-to-image inputs (variation and upscale sources, zoom and pan canvases, image
prompts, masks, IP-Adapter references) arrive as bytes with the batch, never as paths on
the bot's disk: the replica writes them to a folder of its own for the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.faults import Returned
from engine.handle import JobHandle, JobStarted
from engine.model import FamilyDefaults
from engine.types import JobOutput, JobSpec, Progress
from engine.video import ClipPlan

logger = logging.getLogger(__name__)

# The files of a batch: a path as the bot knows it -> the file's bytes.
Files = dict[str, bytes]


@dataclass(frozen=True, slots=True)
class Placed:
    """The batch runs on this replica (its Ray actor's name), first in every stream."""

    replica: str


@dataclass(frozen=True, slots=True)
class Ending:
    """The batch's pipeline call reached its last step."""


@dataclass(frozen=True, slots=True)
class JobFailed:
    """A job's error, as text (exceptions of the replica's libraries need not unpickle
    on the bot)."""

    job_id: int
    error: str
    gpu_seconds: float = 0.0  # what its runs spent on the replica's device, all the same


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the bot needs to know of the model the replicas run (it loads none itself)."""

    name: str
    device: str
    dtype: str
    family: str
    steps: int
    guidance: float
    native_size: int
    sampler: str
    # All of the family's defaults (what it refuses: --no, --tile; its T5 sequence).
    defaults: FamilyDefaults | None = None


def files_of(specs: list[JobSpec]) -> Files:
    """The bytes of every file the batch's jobs read (read on the bot, sent with it)."""
    paths = {str(path) for spec in specs for path in _inputs(spec) if path is not None}
    return {path: Path(path).read_bytes() for path in sorted(paths)}


def _inputs(spec: JobSpec) -> tuple[Path | None, ...]:
    """The files a job reads: its source, mask and references; a clip's start and end
    images and the clip it extends (an MP4)."""
    clip = spec.clip
    held = () if clip is None else (clip.source, clip.end, clip.prefix)
    return (spec.source_image, spec.mask_image, *(r.path for r in spec.references), *held)


def with_local_files(specs: list[JobSpec], files: Files, folder: Path) -> list[JobSpec]:
    """``specs`` reading ``files`` written under ``folder`` instead of the bot's paths."""
    local = {}
    for index, (path, data) in enumerate(files.items()):
        target = folder / f"{index}{Path(path).suffix or '.png'}"
        target.write_bytes(data)
        local[path] = target

    def moved(path: Path | None) -> Path | None:
        return None if path is None else local[str(path)]

    def clip(plan: ClipPlan | None) -> ClipPlan | None:
        if plan is None:
            return None
        end, prefix = moved(plan.end), moved(plan.prefix)
        return dataclasses.replace(plan, source=local[str(plan.source)], end=end, prefix=prefix)

    return [
        dataclasses.replace(
            spec,
            source_image=moved(spec.source_image),
            mask_image=moved(spec.mask_image),
            references=tuple(
                dataclasses.replace(r, path=local[str(r.path)]) for r in spec.references
            ),
            clip=clip(spec.clip),
        )
        for spec in specs
    ]


class EngineReplica:
    """The deployment's class: built once per replica by Ray Serve."""

    def __init__(
        self,
        model_id: str,
        device: str = "auto",
        *,
        preview_interval: float = 2.0,
        progress_interval: float = 0.25,
        nsfw: dict[str, Any] | None = None,
        models: dict[str, str] | None = None,
        default: str = "default",
        budget: int | None = None,
        lora_dir: str | None = None,
        ip_adapters: dict[str, str] | None = None,
        video: str | None = None,
    ) -> None:
        from engine.clip_jobs import VIDEO_ALIAS, VideoOffer
        from engine.loras import scan_lora_dir
        from engine.model import load_model, pick_device
        from engine.nsfw_step import NsfwStep, Straight
        from engine.protocols import Outlet
        from engine.ray_cluster import keep_replica_on_loopback
        from engine.resident import Resident, default_budget
        from engine.worker import Worker

        keep_replica_on_loopback()
        # Every model the bot offers, each loaded once at start (the bot learns each one's
        # family), kept resident up to the budget as on a local worker: every replica
        # serves every model, so the bot's scheduler need not route by model.
        sources = dict(models or {default: model_id})
        on = pick_device(device)
        loaders = {
            alias: functools.partial(load_model, source, device, place=False)
            for alias, source in sources.items()
        }
        if video:  # VIDEO_MODEL: loaded when a clip first needs it, as on a local worker
            from engine.video import load_video_model, prefetch

            loaders[VIDEO_ALIAS] = functools.partial(load_video_model, video, device, place=False)
        loras = scan_lora_dir(Path(lora_dir)) if lora_dir else {}
        self.resident = Resident(
            loaders,
            default=default,
            budget=default_budget(on) if budget is None else budget,
            loras=loras,
            ip_adapters=ip_adapters,
        )
        for alias in [*(a for a in sources if a != default), default]:  # the default last
            self.resident.get(alias)
        self.model = self.resident.first
        if video:  # a hub model's files fetched now, not by the first clip on the worker
            self.resident.video = VideoOffer.of(video, VIDEO_ALIAS)
            prefetch(video, self.resident.video.fetch)
        outlet: Outlet = Straight()
        if nsfw:  # the same filter as a local worker's, on this replica's device
            from engine.nsfw import NsfwClassifier

            classifier = NsfwClassifier.load(nsfw["model"], pick_device(device), nsfw["threshold"])
            outlet = NsfwStep(classifier, "replica")
        self.worker = Worker(
            self.resident,
            preview_interval=preview_interval,
            progress_interval=progress_interval,
            outlet=outlet,
        )
        self.worker.start()
        self._order = 0

    def info(self) -> ModelInfo:
        """The default model this replica runs."""
        return self.catalog()[1][self.resident.default]

    def catalog(self) -> tuple[str, dict[str, ModelInfo], dict[str, Any], dict[str, str], Any]:
        """The default's alias, every model this replica runs by alias, its LoRAs
        (``engine.loras.LoraFile`` by name), the IP-Adapter source of each family, and
        its video model's offer as ``VideoOffer``'s fields (None without one)."""
        offer = self.resident.video
        video = None
        if offer is not None:  # its fields, by name (its fetch is the replica's own)
            video = {k: getattr(offer, k) for k in ("alias", "name", "defaults", "frames", "fps")}
        infos = {
            alias: ModelInfo(
                name=model.name,
                device=model.device,
                dtype=str(self.model.dtype).removeprefix("torch."),
                family=model.defaults.family,
                steps=model.defaults.steps,
                guidance=model.defaults.guidance,
                native_size=model.defaults.native_size,
                sampler=model.sampler,
                defaults=model.defaults,
            )
            for alias, model in self.resident.summaries().items()
        }
        resident = self.resident
        return resident.default, infos, dict(resident.loras), dict(resident.ip_adapters), video

    async def run_batch(self, specs: list[JobSpec], files: Files) -> AsyncIterator[Any]:
        """Run one batch on this replica's worker; stream its events, then the outcomes."""
        yield Placed(_actor_name())
        with tempfile.TemporaryDirectory(prefix="imaginebot-replica-") as folder:
            handles = []
            for spec in with_local_files(specs, files, Path(folder)):
                self._order += 1
                handles.append(JobHandle(spec, self._order))
            handoff = self.worker.run_batch(handles)
            events: asyncio.Queue[Any] = asyncio.Queue()
            forwards = [asyncio.create_task(_forward(handle, events)) for handle in handles]
            handoff.ending.add_done_callback(lambda _: events.put_nowait(Ending()))
            finished = asyncio.gather(*forwards)
            try:
                while not (finished.done() and events.empty()):
                    getter = asyncio.ensure_future(events.get())
                    waits = [getter, finished]
                    if not handoff.done.done():
                        waits.append(handoff.done)
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    if getter.done():
                        yield getter.result()
                        continue
                    getter.cancel()
                    returned = handoff.done.result() if handoff.done.done() else None
                    if isinstance(returned, Returned) and events.empty():
                        # The worker gave the batch back (its device is lost): the bot
                        # sees the stream fail and runs the batch elsewhere.
                        raise RuntimeError(
                            f"the replica's worker gave the batch back: {returned.error}"
                        )
            finally:
                # The bot cancelled the stream (every job of the batch): stop the call at
                # its next step, and let the worker be through with it before the
                # batch's files go.
                for handle in handles:
                    handle.cancelled.set()
                with contextlib.suppress(BaseException):
                    await asyncio.shield(handoff.done)
                for task in forwards:
                    task.cancel()

    def steps_run(self) -> int:
        """Pipeline steps this replica's worker has run (a cancelled call stops early)."""
        return self.worker.steps_run

    async def check_health(self) -> None:
        """Serve's health check: a replica whose worker is lost is restarted."""
        if self.worker.lost is not None:
            raise RuntimeError(f"the worker is lost: {self.worker.lost}")


def _actor_name() -> str:
    """This replica's Ray actor name ("" outside Ray)."""
    try:
        import ray

        return ray.get_runtime_context().get_actor_name() or ""
    except Exception:  # not in a Ray actor
        return ""


async def _forward(handle: JobHandle, events: asyncio.Queue[Any]) -> None:
    """A job's start and progress, then its output or error, into ``events``."""
    async for update in handle.events():
        if isinstance(update, (JobStarted, Progress)):
            events.put_nowait(update)
    try:
        output: JobOutput = await handle
    except BaseException as exc:  # its error travels as text
        text = f"{type(exc).__name__}: {exc}"
        events.put_nowait(JobFailed(handle.spec.job_id, text, handle.gpu_seconds))
    else:
        events.put_nowait(dataclasses.replace(output, gpu_seconds=handle.gpu_seconds))

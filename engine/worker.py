"""A worker: the one thread that runs one device's pipeline.

diffusers pipelines are not thread-safe, so exactly one thread runs each, always (with
several devices, one pipeline copy and one worker per device). The event loop hands over
a batch of jobs through a thread-safe queue and gets each job's result, progress and
errors back through ``loop.call_soon_threadsafe``. A lost device retires its worker: the
batch in hand and those behind it are given back (``faults.Returned``), for another one.

The worker tells the loop when a batch reaches its last step (``Handoff.ending``), so that
the scheduler hands over the next batch while this one decodes: the worker then finds it
waiting instead of idling through a round trip to the loop. At most one batch waits so.

A batch is one pipeline call for several jobs of the same shape: each keeps its own
prompt, negative prompt and per-image generators, so every image is what it would be
alone. When a fused call fails, each job is retried alone so that only the faulty one
fails; when it runs out of GPU memory, it is retried once in smaller calls.

What the worker makes (progress with previews, each job's images, the end of a batch) goes
to its outlet (``engine.protocols.Outlet``): straight to the handles, or through the NSFW
step (``engine.nsfw_step``), which classifies it on a thread of its own.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from engine.calls import call_arguments, run_pipeline
from engine.clip_jobs import ClipFrames, job_output
from engine.entries import Entry, entries_of
from engine.faults import Returned, WorkerLost, free_memory, is_device_lost, is_out_of_memory
from engine.gpu_time import DeviceTimer, charge
from engine.handle import JobCancelled, JobHandle, JobStarted, settle_threadsafe
from engine.inbox import Batch, Call, Handoff, Stop, give_back_batches, return_all
from engine.model import LoadedModel
from engine.nsfw_step import Straight
from engine.preview import latents_to_preview, unpack_latents
from engine.protocols import Outlet, Pipelines, WorkerHooks
from engine.resident import Resident
from engine.tiling import tiling
from engine.types import Progress
from engine.video import run_clip
from engine.video_preview import clip_preview

logger = logging.getLogger(__name__)


class Worker:
    """Runs batches on the loaded pipeline, one at a time, on its own thread."""

    def __init__(
        self,
        model: Pipelines | Resident,
        *,
        preview_interval: float = 2.0,
        progress_interval: float = 0.25,
        outlet: Outlet | None = None,
        hooks: WorkerHooks | None = None,
        name: str | None = None,
        torch_threads: int | None = None,
        cpus: set[int] | None = None,
    ) -> None:
        # The models it runs, by alias, kept on its device up to a budget (see
        # ``engine.resident``); a single loaded model is the only one.
        self.resident = model if isinstance(model, Resident) else Resident.single(model)
        self.name = name or self.resident.first.device
        self.outlet: Outlet = outlet or Straight()  # where results go: see the module
        self.hooks = hooks  # a test's hold on this thread (engine.protocols.WorkerHooks)
        # CPU workers side by side: torch threads of this worker's own, and the cores it
        # runs on (its torch threads inherit them), so that N workers on N cores do not
        # fight over them. None: torch's defaults.
        self.torch_threads = torch_threads
        self.cpus = cpus
        self.lost: WorkerLost | None = None  # set (on its thread) when the worker is lost
        self.preview_interval = preview_interval
        # Each progress report wakes the event loop, which then competes with this
        # thread for the GIL: report the first and last step, and at most this often.
        self.progress_interval = progress_interval
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._batch: Batch | None = None  # the batch in hand (worker thread only)
        # Seconds spent in pipeline calls for jobs, and their steps run (written by the
        # worker thread only; a cancelled call stops adding steps).
        self.call_seconds = 0.0
        self.steps_run = 0

    @property
    def swaps(self) -> int:
        """Models brought onto its device since it started (``engine.resident``)."""
        return self.resident.swap_count

    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._serve, name=f"worker-{self.name}", daemon=True
            )
            self._thread.start()

    async def stop(self) -> None:
        """Finish the batch in hand, then end the thread; a batch handed over but not
        started is given back (its jobs abandoned, their rows stay queued)."""
        if self._thread is not None:
            give_back_batches(self._inbox)
            self._inbox.put(Stop())
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    def run_batch(self, items: Sequence[JobHandle]) -> Handoff:
        """Hand over a batch of same-shape jobs (each job's own output is settled as soon
        as it is done); see ``Handoff``."""
        loop = asyncio.get_running_loop()
        handoff = Handoff(loop.create_future(), loop.create_future())
        self._put(Batch(list(items), handoff, loop))
        return handoff

    def call(self, function: Callable[[], Any]) -> asyncio.Future:
        """Run ``function`` on the worker thread, between batches (call on the loop).

        For work that must not touch torch from another thread, like the benchmark's
        bare pipeline calls."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put(Call(function, future, loop))
        return future

    def _put(self, message: Batch | Call) -> None:
        self._inbox.put(message)
        if self.lost is not None:
            # Lost meanwhile: its thread may have emptied the inbox and ended before this
            # came in. Give it back from here (whoever takes a message settles it).
            return_all(self._inbox, self.lost)

    def _pin(self) -> None:
        import torch

        if self.torch_threads:
            torch.set_num_threads(self.torch_threads)  # this thread's own (OpenMP)
        if self.cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, self.cpus)  # this thread, and the threads it starts

    def _serve(self) -> None:
        import torch

        self._pin()
        while True:
            message = self._inbox.get()
            match message:
                case Stop():
                    return
                case Call(function, future, loop):
                    try:
                        with torch.inference_mode():
                            result, error = function(), None
                    except BaseException as exc:  # the thread must outlive it
                        result, error = None, exc
                    settle_threadsafe(loop, future, result, error)
                case Batch(items, handoff, loop):
                    self._batch = message
                    for item in items:
                        if not item.cancelled.is_set():
                            item.report_threadsafe(JobStarted(item.spec.job_id))
                    returned = None
                    try:
                        if self.hooks is not None:
                            self.hooks.before_batch(items)
                        with torch.inference_mode():
                            self._run_batch(items)
                    except WorkerLost as exc:
                        self.lost = exc
                        returned = Returned(exc, True, True)
                    except BaseException as exc:  # the thread must outlive anything else
                        logger.exception("worker %s: batch failed outside any job", self.name)
                        returned = Returned(exc, True, False)
                    finally:
                        self._batch = None
                        message.ending()
                        # Done once the outlet has passed on every job of the batch.
                        self.outlet.then(
                            functools.partial(settle_threadsafe, loop, handoff.done, returned)
                        )
                    if self.lost is not None:
                        return_all(self._inbox, self.lost)
                        return

    def _run_batch(self, items: list[JobHandle]) -> None:
        live = []
        for item in items:
            if item.cancelled.is_set():
                item.finish_threadsafe(None, JobCancelled(f"job {item.spec.job_id} cancelled"))
            else:
                live.append(item)
        if not live:
            return
        try:
            # One shape: one model. A swap when it is not on the device; a model that
            # cannot come in fails the batch's jobs, once, with its error (no retry
            # alone: it would load again for each).
            model = self.resident.get(live[0].spec.model)
        except BaseException as exc:
            self._check_device(exc)
            logger.warning(
                "worker %s: model %r not brought in: %r", self.name, live[0].spec.model, exc
            )
            if is_out_of_memory(exc):
                exc.__traceback__ = None  # its frames hold the half-moved tensors
                free_memory()
            for item in live:
                self._fail(item, exc)
            return
        timer = DeviceTimer(model.device)
        failed: BaseException | None = None
        try:
            with timer:
                results = self._generate(model, live)
        except BaseException as exc:
            charge(live, timer.seconds)  # what was spent is spent (engine.gpu_time)
            self._check_device(exc)
            if len(live) == 1 and not is_out_of_memory(exc):
                self._fail(live[0], exc)
                return
            if is_out_of_memory(exc):
                exc.__traceback__ = None  # its frames hold the call's tensors: let them go
            failed = exc
        if failed is not None:  # retried outside the except: the failed call is gone
            _retry_alone(self, model, live, failed)
            return
        charge(live, timer.seconds)
        for item, images in results.items():
            self._finish(item, images, timer.seconds)

    def _finish(self, item: JobHandle, images: list, seconds: float) -> None:
        if item.cancelled.is_set():
            item.finish_threadsafe(None, JobCancelled(f"job {item.spec.job_id} cancelled"))
            return
        self.outlet.finish(item, job_output(item.spec.job_id, images, seconds))

    def _check_device(self, exc: BaseException) -> None:
        """Raise ``WorkerLost`` when ``exc`` says the device is gone: the batch goes
        back to the queue, for another worker, instead of failing its jobs here."""
        if is_device_lost(exc):
            logger.error("worker %s: its device is lost (%s)", self.name, exc)
            raise WorkerLost(f"{self.name}: {exc}") from exc

    @staticmethod
    def _fail(item: JobHandle, exc: BaseException) -> None:
        logger.warning("job %s failed on the worker: %r", item.spec.job_id, exc)
        item.finish_threadsafe(None, exc)

    def _generate(
        self, model: Pipelines, items: list[JobHandle], images_per_call: int | None = None
    ) -> dict[JobHandle, list]:
        """Run the pipeline for ``items`` (same shape); each item's images (a clip's: one)."""
        if items[0].spec.clip is not None:
            return {items[0]: [_clip(self, cast(LoadedModel, model), items[0])]}
        entries = entries_of(items)
        size = images_per_call or len(entries)
        images: list = []
        spec = items[0].spec  # one shape: one model, one set of LoRAs and references
        started = time.perf_counter()
        try:
            self.resident.use_loras(model, spec.loras)
            references = self.resident.use_references(cast(LoadedModel, model), spec.references)
            # --tile: circular padding for these calls only (same shape: all or none).
            tile = spec.tile and model.defaults.tile  # core refuses the rest
            with tiling(model.text2img, tile):
                for start in range(0, len(entries), size):
                    images.extend(self._call(model, entries[start : start + size], references))
        finally:
            self.call_seconds += time.perf_counter() - started
        results: dict[JobHandle, list] = {item: [] for item in items}
        for entry, image in zip(entries, images, strict=True):
            results[entry.item].append(image)
        return results

    def _call(self, model: Pipelines, entries: list[Entry], references: dict) -> list:
        step_end = _StepEnd(self, entries, model.defaults.family)
        common = call_arguments(model, entries, step_end, references)
        return run_pipeline(model, entries, common)


def _retry_alone(
    worker: Worker, model: Pipelines, items: list[JobHandle], exc: BaseException
) -> None:
    """A fused call failed: each job again alone (out of memory: in smaller calls too)."""
    out_of_memory = is_out_of_memory(exc)
    ids = [item.spec.job_id for item in items]
    if out_of_memory:
        logger.warning("jobs %s ran out of memory together; retrying in smaller calls", ids)
        free_memory()
    else:
        logger.warning("fused jobs %s failed (%r); retrying each alone", ids, exc)
    for item in items:
        if item.cancelled.is_set():
            item.finish_threadsafe(None, JobCancelled(f"job {item.spec.job_id} cancelled"))
            continue
        timer = DeviceTimer(model.device)
        # Out of memory: split the job's own images too (half as many per call).
        per_call = max(1, item.spec.num_images // 2) if out_of_memory else None
        try:
            with timer:
                images = worker._generate(model, [item], images_per_call=per_call)[item]
        except BaseException as retry_error:
            item.gpu_seconds += timer.seconds
            worker._check_device(retry_error)
            if is_out_of_memory(retry_error):
                free_memory()
            worker._fail(item, retry_error)
            continue
        item.gpu_seconds += timer.seconds
        worker._finish(item, images, timer.seconds)


def _clip(worker: Worker, model: LoadedModel, item: JobHandle) -> ClipFrames:
    """A clip job: a call of its own (a clip never fuses), with the worker's step-end."""
    plan = item.spec.clip
    assert plan is not None
    step_end = _StepEnd(worker, [Entry(item, plan.seed, None)], model.defaults.family)
    started = time.perf_counter()
    try:
        return ClipFrames(run_clip(model, plan, step_end), plan.fps)
    finally:
        worker.call_seconds += time.perf_counter() - started


class _StepEnd:
    """A pipeline call's step-end callback: stops the call when every job in it is
    cancelled, tells the loop when the last step is reached, and reports progress (the
    first and last step, at most every ``progress_interval``) with a preview at most
    every ``preview_interval``; then the test's hook, if any."""

    def __init__(self, worker: Worker, entries: list[Entry], family: str) -> None:
        self.worker = worker
        self.items = list(dict.fromkeys(entry.item for entry in entries))
        self.first_index: dict[JobHandle, int] = {}
        for index, entry in enumerate(entries):
            self.first_index.setdefault(entry.item, index)
        self.family = family
        self.last_preview = time.monotonic()
        self.last_report = float("-inf")

    def __call__(self, pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
        self._report(pipe, step, tensors)
        if self.worker.hooks is not None:
            self.worker.hooks.after_step(step)
        return tensors

    def _report(self, pipe: Any, step: int, tensors: dict) -> None:
        worker = self.worker
        worker.steps_run += 1
        if all(item.cancelled.is_set() for item in self.items):
            pipe._interrupt = True
        total = int(pipe.num_timesteps)
        if step + 1 >= total and worker._batch is not None:
            worker._batch.ending()
        now = time.monotonic()
        want_preview = now - self.last_preview >= worker.preview_interval and step + 1 < total
        if want_preview:
            self.last_preview = now
        due = now - self.last_report >= worker.progress_interval or step + 1 >= total
        if not (due or want_preview):
            return
        self.last_report = now
        latents = tensors.get("latents")
        live = [item for item in self.items if not item.cancelled.is_set()]
        previews: list = [None] * len(live)
        if want_preview and latents is not None:
            # Cheap enough for the GPU thread: a channels x 3 projection of a small tensor.
            previews = [self._preview(pipe, latents[self.first_index[i]], i) for i in live]
        reports = [
            (item, Progress(item.spec.job_id, step + 1, total, preview))
            for item, preview in zip(live, previews, strict=True)
        ]
        if reports:
            worker.outlet.progress(reports)

    def _preview(self, pipe: Any, latents: Any, item: JobHandle) -> Any:
        """One image's preview; FLUX's packed latents are unpacked first; a clip's is its
        middle frame (``engine.video_preview``)."""
        plan = item.spec.clip
        if plan is not None:
            return clip_preview(pipe, latents, plan.width, plan.height, plan.frames)
        if latents.ndim == 2:
            scale = int(getattr(pipe, "vae_scale_factor", 8))
            latents = unpack_latents(latents, item.spec.height // scale, item.spec.width // scale)
        return latents_to_preview(latents, self.family)

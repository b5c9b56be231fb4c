"""The one thread that touches torch and diffusers.

diffusers pipelines are not thread-safe, so exactly one thread runs them, always. The
event loop hands work over through a thread-safe queue and gets results, progress and
errors back through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.model import LoadedModel
from engine.types import JobOutput, JobSpec, Progress

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]


class JobCancelled(Exception):
    """The job was cancelled while it ran; the pipeline stopped at the next step."""


@dataclass
class _Work:
    spec: JobSpec
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    on_progress: ProgressCallback | None
    cancelled: threading.Event = field(default_factory=threading.Event)


_STOP = object()


class Worker:
    """Runs jobs on the loaded pipeline, one at a time, on its own thread."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._current: _Work | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="gpu-worker", daemon=True)
            self._thread.start()

    async def stop(self) -> None:
        """Finish the job in hand, then end the thread."""
        if self._thread is not None:
            self._inbox.put(_STOP)
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    def run(self, spec: JobSpec, on_progress: ProgressCallback | None = None) -> asyncio.Future:
        """Queue ``spec`` for the thread; the returned future gets a ``JobOutput``.

        Must be called from the event loop; ``on_progress`` is called on the loop too.
        """
        loop = asyncio.get_running_loop()
        work = _Work(spec, loop.create_future(), loop, on_progress)
        self._inbox.put(work)
        return work.future

    def cancel(self, job_id: int) -> bool:
        """Ask the running job to stop at its next step; True when it was running."""
        with self._lock:
            if self._current is not None and self._current.spec.job_id == job_id:
                self._current.cancelled.set()
                return True
        return False

    def _serve(self) -> None:
        import torch

        while True:
            work = self._inbox.get()
            if work is _STOP:
                return
            with self._lock:
                self._current = work
            started = time.perf_counter()
            try:
                with torch.inference_mode():
                    images = self._generate(work)
                if work.cancelled.is_set():
                    raise JobCancelled(f"job {work.spec.job_id} cancelled")
                output = JobOutput(work.spec.job_id, images, time.perf_counter() - started)
                self._resolve(work, output, None)
            except BaseException as exc:  # the thread must outlive any job's failure
                logger.warning("job %s failed on the worker: %r", work.spec.job_id, exc)
                self._resolve(work, None, exc)
            finally:
                with self._lock:
                    self._current = None

    @staticmethod
    def _resolve(work: _Work, output: JobOutput | None, error: BaseException | None) -> None:
        def settle() -> None:
            if work.future.done():
                return
            if error is not None:
                work.future.set_exception(error)
            else:
                work.future.set_result(output)

        try:
            work.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop closed while the job ran: nobody is waiting
            logger.info("job %s finished after its loop closed", work.spec.job_id)

    def _generate(self, work: _Work) -> list:
        import torch
        from PIL import Image

        spec = work.spec
        n = spec.num_images
        # CPU generators make a seed give the same image on every device.
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in spec.seeds]

        def on_step_end(pipe, step: int, timestep, tensors: dict) -> dict:
            if work.cancelled.is_set():
                pipe._interrupt = True
            if work.on_progress is not None:
                progress = Progress(spec.job_id, step + 1, int(pipe.num_timesteps))
                work.loop.call_soon_threadsafe(work.on_progress, progress)
            return tensors

        common = {
            "prompt": [spec.prompt] * n,
            "negative_prompt": [spec.negative] * n if spec.negative else None,
            "num_inference_steps": spec.steps,
            "guidance_scale": spec.guidance,
            "generator": generators,
            "callback_on_step_end": on_step_end,
            "callback_on_step_end_tensor_inputs": ["latents"],
            "output_type": "pil",
        }
        if spec.source_image is None:
            result = self.model.text2img(width=spec.width, height=spec.height, **common)
        else:
            with Image.open(spec.source_image) as opened:
                source = opened.convert("RGB")
            if source.size != (spec.width, spec.height):
                source = source.resize((spec.width, spec.height), Image.Resampling.LANCZOS)
            result = self.model.img2img(image=[source] * n, strength=spec.strength, **common)
        return list(result.images)

"""A job's life after admission: handed to the engine, run, written, finished, told.

The job row is the truth. ``start`` resumes what a stop or crash left queued or running;
``launch`` gives a committed job to the engine and one task that owns it to the end;
``stop`` interrupts the running job and leaves every row queued for the next start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from core.encoders import EncoderPool
from core.errors import UnknownJob, UserError
from core.model import (
    EVERYWHERE,
    EventKind,
    ImageRow,
    Job,
    JobEvent,
    JobStatus,
    Requester,
)
from core.outputs import write_outputs
from core.specs import ModelGone, job_spec
from engine import (
    Engine,
    JobCancelled,
    JobHandle,
    JobSpec,
    JobStarted,
    ModelLoadFailed,
    is_out_of_memory,
)
from storage.db import Storage

logger = logging.getLogger(__name__)

Listener = Callable[[JobEvent], Awaitable[None]]
RESUME_CHUNK = 500  # queued jobs read and handed to the engine at a time at a start
CHARGE_WAIT_S = 600.0  # a cancelled call stops at its next step: far less than this


class Runner:
    """Runs committed jobs on the engine and tells listeners what happens to them."""

    def __init__(self, storage: Storage, engine: Engine, encoders: EncoderPool) -> None:
        self.storage = storage
        self.engine = engine
        # Finished images become files on the encoder threads, a bounded hand-off; the
        # engine hands the worker no new batch while that hand-off is full (its ``room``,
        # given to it where it is built: ``bot.app``).
        self.encoders = encoders
        self._listeners: list[Listener] = []
        self._waiters: dict[int, list[asyncio.Future[Job]]] = {}
        self._tasks: dict[int, asyncio.Task] = {}
        self._background: set[asyncio.Task] = set()

    async def start(self) -> list[Job]:
        """Re-queue what was queued and retry once what was running; returns those jobs."""
        resumed = []
        for job in await self.storage.jobs_with_status(JobStatus.RUNNING, scope=EVERYWHERE):
            if job.attempts >= 2:
                await self.storage.finish_job(
                    job.id, JobStatus.FAILED, "interrupted twice while running; not retried"
                )
                logger.warning("job %s was interrupted twice; marked failed", job.id)
                self.emit(JobEvent(EventKind.FINISHED, await self.job(job.id)))
                continue
            await self.storage.mark_queued(job.id)
        # Oldest first, a chunk at a time, the loop free between chunks: the first job
        # runs as soon as the first chunk is in the engine, however many are queued.
        queued = await self.storage.queued_ids()
        for first in range(0, len(queued), RESUME_CHUNK):
            last = queued[min(first + RESUME_CHUNK, len(queued)) - 1]
            chunk = await self.storage.jobs_with_status(
                JobStatus.QUEUED, scope=EVERYWHERE, after=queued[first] - 1, limit=RESUME_CHUNK
            )
            chunk = [job for job in chunk if job.id <= last]  # each job once
            for job in chunk:
                self.launch(job)
            resumed += chunk
            await asyncio.sleep(0)
        if resumed:
            logger.info("%d queued jobs resumed after a restart", len(resumed))
        return resumed

    async def stop(self) -> None:
        """Stop tracking jobs; they stay queued for the next start.

        A job running now is interrupted at its next step and re-queued without using
        up its retry: a clean shutdown is not the job's failure.
        """
        held = list(self._tasks)
        running = [job_id for job_id in held if self.engine.position(job_id) == 0]
        # Stop the job tasks first, so that nothing below is recorded as a cancellation.
        tasks = list(self._tasks.values()) + list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        # Every job dropped from the engine at once: none is handed to a worker while the
        # bot stops (their rows stay queued for the next start).
        for job_id in held:
            self.engine.cancel(job_id)
        for job_id in running:
            await self.storage.mark_queued(job_id, refund_attempt=True)
            logger.info("job %s interrupted by shutdown; queued for the next start", job_id)
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.cancel()
        self._waiters.clear()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` for every job event (on the loop, errors logged)."""
        self._listeners.append(listener)

    # what the bot shows

    def position(self, job_id: int) -> int | None:
        """0 running, 1.. waiting, None when not in the engine."""
        return self.engine.position(job_id)

    def positions(self) -> dict[int, int]:
        """Every held job's position (0 running, 1.. waiting), the fair order built once."""
        return self.engine.positions()

    async def job(self, job_id: int) -> Job:
        """The bot's own view of a job it holds (any server): for running and showing it."""
        job = await self.storage.get_job(job_id, scope=EVERYWHERE)
        if job is None:
            raise UnknownJob(f"There is no job {job_id}.")
        return job

    async def images(self, job_id: int) -> list[ImageRow]:
        """A job's image rows in order."""
        return await self.storage.images(job_id)

    async def record_message(
        self, job_id: int, channel_id: int | None, message_id: int, *, delivered: bool = False
    ) -> None:
        """Remember which Discord message shows the job (``delivered``: its final state)."""
        if delivered:
            await self.storage.mark_delivered(job_id, channel_id, message_id)
        else:
            await self.storage.set_message(job_id, channel_id, message_id)

    async def active_jobs(self, after: int = 0, limit: int = RESUME_CHUNK) -> list[Job]:
        """Queued and running jobs after job ``after``, oldest first, at most ``limit``
        (what the bot shows of the jobs a start resumed)."""
        return await self.storage.jobs_with_status(
            JobStatus.QUEUED, JobStatus.RUNNING, scope=EVERYWHERE, after=after, limit=limit
        )

    async def undelivered(self) -> list[Job]:
        """Finished jobs whose result has not reached Discord (a stop cut it off)."""
        return await self.storage.undelivered_jobs()

    async def wait(self, job_id: int) -> Job:
        """Wait until the job is done, failed or cancelled; returns its final row."""
        waiter: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        # Register first, then look: a job that finishes in between still wakes us.
        self._waiters.setdefault(job_id, []).append(waiter)
        job = await self.job(job_id)
        if job.status.is_final:
            self._wake(job)
        return await waiter

    # running

    def spec_for(self, job: Job) -> JobSpec:
        """The engine's view of a committed job (``ModelGone``, a ``ValueError``, when the
        engine could not run it): built once, when the job is handed to the engine."""
        return job_spec(self.storage, self.engine, job)

    def launch(self, job: Job) -> None:
        """Hand a committed job to the engine now (so its queue position is known at
        once), with the one task that owns it until it is finished."""
        try:
            spec = self.spec_for(job)
        except ModelGone as exc:  # MODELS changed while it waited
            logger.warning("job %s cannot run: %s", job.id, exc)
            self._spawn(self._finish(job, JobStatus.FAILED, str(exc)))
            return
        except ValueError:
            # Admission checks every spec; a row that still cannot run (edited by hand,
            # written by another version) fails alone instead of stopping the bot.
            logger.exception("job %s cannot run", job.id)
            self._spawn(self._finish(job, JobStatus.FAILED, "the job's settings are not valid"))
            return
        handle = self.engine.submit(spec)
        task = asyncio.create_task(self._run(job, spec, handle), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))

    async def cancel(self, job: Job, who: Requester) -> Job:
        """Stop a queued or running job; returns its final row."""
        waiter = asyncio.get_running_loop().create_task(self.wait(job.id))
        if self.engine.cancel(job.id):
            logger.info("job %s cancelled by user %s", job.id, who.user_id)
            return await waiter
        waiter.cancel()
        if job.id in self._tasks:
            raise UserError(f"Job {job.id} is already finishing; it is too late to cancel it.")
        # Not held by anyone (its row outlived its task): the row is the truth.
        await self.storage.finish_job(job.id, JobStatus.CANCELLED, f"cancelled by {who.user_id}")
        final = await self.job(job.id)
        self.emit(JobEvent(EventKind.FINISHED, final))
        return final

    async def _run(self, job: Job, spec: JobSpec, handle: JobHandle) -> None:
        """The job's one owner from the engine's queue to its final row and event."""
        error: str | None = None
        status, ran = JobStatus.DONE, False
        try:
            # An Extend's clip holds its parent's frames: flagged if they were, and so
            # are its previews (its message must not show what the parent's withholds).
            flagged = await extends_flagged(self.storage, job, spec)
            async for update in handle.events():
                if isinstance(update, JobStarted):
                    ran = True
                    await self.storage.mark_running(job.id)
                    self.emit(JobEvent(EventKind.STARTED, await self.job(job.id)))
                else:
                    if flagged and update.preview is not None:
                        update = dataclasses.replace(update, preview_nsfw=True)
                    self.emit(JobEvent(EventKind.PROGRESS, job, update))
            output = await handle
            held = self.engine.models.get(spec.model)  # a clip's video model is not listed
            sampler = held.sampler if held is not None else ""
            rows = await self.encoders.run(write_outputs, self.storage, job, spec, output, sampler)
            rows = [dataclasses.replace(row, nsfw=row.nsfw or flagged) for row in rows]
            await self.storage.add_images(rows)
        except asyncio.CancelledError:
            raise  # the service is stopping: the row stays as it is, for the next start
        except JobCancelled:
            status = JobStatus.CANCELLED
            if ran:  # its call stops a step later: counted once the worker is through
                self._spawn(spent_later(self.storage, job.id, handle))
                ran = False
        except Exception as exc:
            # The details are for the log; users read a short reason that names no path.
            logger.exception("job %s failed", job.id)
            status, error = JobStatus.FAILED, failure_reason(exc)
        # What its calls spent on the device, failed runs too (engine.gpu_time).
        await self._finish(job, status, error, handle.gpu_seconds if ran else 0.0)

    async def _finish(
        self, job: Job, status: JobStatus, error: str | None, gpu_seconds: float = 0.0
    ) -> None:
        await self.storage.finish_job(job.id, status, error, gpu_seconds)
        logger.info("job %s %s", job.id, status)
        final = await self.job(job.id)
        self._wake(final)
        self.emit(JobEvent(EventKind.FINISHED, final))

    def _wake(self, job: Job) -> None:
        for waiter in self._waiters.pop(job.id, []):
            if not waiter.done():
                waiter.set_result(job)

    def emit(self, event: JobEvent) -> None:
        """Tell every listener, each in its own task."""
        for listener in self._listeners:
            self._spawn(listener(event))

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)

        def done(finished: asyncio.Task) -> None:
            self._background.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                logger.error("job event handler failed", exc_info=finished.exception())

        task.add_done_callback(done)
        return task


async def extends_flagged(storage: Storage, job: Job, spec: JobSpec) -> bool:
    """Whether ``job`` extends a clip the NSFW filter flagged."""
    if spec.clip is None or spec.clip.prefix is None or not job.parent_id:
        return False
    return any((await storage.nsfw_flags([job.parent_id])).get(job.parent_id, []))


async def spent_later(storage: Storage, job_id: int, handle: JobHandle) -> None:
    """A running job's cancelled call: its device seconds, once its worker is through."""
    try:
        await asyncio.wait_for(asyncio.shield(handle.charged), CHARGE_WAIT_S)
    except TimeoutError:
        logger.warning("job %s: its cancelled call was not through in time", job_id)
    if handle.gpu_seconds > 0:
        await storage.add_gpu_seconds(job_id, handle.gpu_seconds)


def failure_reason(exc: BaseException) -> str:
    """What a failed job tells its owner in Discord: short, generic, no paths or internals
    (the log has the traceback, with the job id)."""
    if isinstance(exc, ModelLoadFailed) or str(exc).startswith("ModelLoadFailed:"):  # or Ray's
        return "its model could not be loaded (the bot tries again within ten minutes)"
    if isinstance(exc, FileNotFoundError):
        return "the source image is no longer kept"
    if isinstance(exc, MemoryError) or is_out_of_memory(exc):
        return "the GPU ran out of memory"
    return "the image generator hit an error"

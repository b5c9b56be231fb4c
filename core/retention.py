"""KEEP_IMAGES_DAYS: a background sweep deletes the image files of older jobs (the rows,
recipes and image rows stay), measures what new jobs' files take for the disk total
/info shows admins, and gives the database's free pages back, a bounded amount of each
per pass. Files are removed and measured on a thread of the sweep's own, never on the
event loop nor on a pool the rest of the bot needs."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from core.errors import UnknownJob
from core.model import EVERYWHERE, Job, JobStatus, NewJob
from core.specs import folders_read
from storage.db import Storage

logger = logging.getLogger(__name__)

BATCH = 200  # jobs a pass expires, and jobs it measures, at most
RETRY = timedelta(days=1)  # a folder that could not be removed is tried again after it
# A result not delivered this long after its job finished is measured all the same.
GRACE = timedelta(days=1)
REMOVE_TRIES = 3  # a folder a file keeps appearing in is left for a later pass
INTERVAL = 3600.0  # seconds between passes once there is no backlog
# Seconds between passes while there is: the database's thread, which the bot shares, is
# never held by passes back to back (the first start after an upgrade measures every job).
PAUSE = 0.05
VACUUM_PAGES = 128  # free pages a pass gives back (about 7 ms of the database's thread)

T = TypeVar("T")
_unlink = os.unlink  # a test writes a file as one goes


def refuse_removed(job: Job, keep_days: int) -> None:
    """``UnknownJob`` when a job's images are gone: an admin purged them, or they expired
    (``keep_days``: KEEP_IMAGES_DAYS, said in the answer)."""
    if job.purged_at is not None:
        raise UnknownJob(f"The images of job {job.id} were removed by an admin.")
    if job.images_expired_at is not None:
        kept = f"images are kept {keep_days} days on this bot" if keep_days > 0 else ""
        raise UnknownJob(
            f"The images of job {job.id} have expired" + (f": {kept}." if kept else ".")
        )


async def refuse_gone_folders(storage: Storage, new: NewJob) -> None:
    """``UnknownJob`` when a job about to be admitted would read the folder of an older
    job (beyond its parent, which its button checked) whose images are gone: a reroll of a
    reroll of an image prompt, references carried on, a clip's end image."""
    needed = folders_read(new) - {new.parent_id}
    gone = await storage.removed_jobs(needed) if needed else []
    if gone:
        raise UnknownJob(
            f"The images this job would start from (kept with job {gone[0]}) were removed; "
            "start a new /imagine."
        )


@dataclass(frozen=True, slots=True)
class SweepPass:
    """What one pass did."""

    expired: int = 0  # jobs whose files it removed
    freed_bytes: int = 0
    measured: int = 0  # jobs whose files it measured
    free_pages: int = 0  # the database's pages still free after it
    more: bool = False  # a bound was reached, or pages are left: the next pass is soon


class Retention:
    """The sweep: ``start`` it with the services, ``stop`` it first at the end."""

    def __init__(
        self,
        storage: Storage,
        keep_days: int,
        *,
        batch: int = BATCH,
        interval: float = INTERVAL,
        vacuum_pages: int = VACUUM_PAGES,
    ) -> None:
        self.storage = storage
        self.keep_days = keep_days
        self.batch = batch
        self.interval = interval
        self.vacuum_pages = vacuum_pages
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()  # the thread stops between two jobs
        self._task: asyncio.Task[None] | None = None
        self._free: int | None = None  # the free pages the last pass left
        self.caught_up = asyncio.Event()  # set while the passes wait out an interval

    async def sweep(self) -> SweepPass:
        """One pass: expire (when KEEP_IMAGES_DAYS is set), measure, give pages back."""
        now = self.storage.clock()
        expired = freed = 0
        more = False
        if self.keep_days > 0:
            # Marked first, removed after: a button pressed meanwhile is refused up front.
            # First the marked jobs whose folders a stop or a failure left.
            expiring = await self.storage.expiring_jobs(now - RETRY, self.batch)
            marked = await self._mark(now - timedelta(days=self.keep_days))
            more = marked is None or self.batch in (len(expiring), len(marked))
            jobs = expiring + (marked or [])
            if jobs:
                removed = await self._on_thread(remove_files, self._dirs(jobs), self._stopping)
                gone = [job for job, size in zip(jobs, removed, strict=False) if size is not None]
                failed = [job for job, size in zip(jobs, removed, strict=False) if size is None]
                await self.storage.record_removed(gone)
                await self.storage.record_removal_failed(failed)
                expired, freed = len(gone), sum(size or 0 for size in removed)
            if expired:
                logger.info(
                    "retention: the images of %d jobs expired (%s to %s), %.1f MB freed",
                    expired,
                    min(gone),
                    max(gone),
                    freed / 1e6,
                )
        unmeasured = await self.storage.unmeasured_jobs(now - GRACE, self.batch)
        if unmeasured:
            sizes = await self._on_thread(measure, self._dirs(unmeasured), self._stopping)
            await self.storage.record_disk_bytes(dict(zip(unmeasured, sizes, strict=False)))
        free = await self.storage.release_free_pages(self.vacuum_pages)
        # Again soon while a bound was reached, or free pages are left and going down.
        fewer = self._free is None or free < self._free
        more = more or len(unmeasured) == self.batch or (free > 0 and fewer)
        self._free = free
        return SweepPass(expired, freed, len(unmeasured), free, more)

    async def _mark(self, cutoff: datetime) -> list[int] | None:
        """Mark the jobs whose files go now: never one whose folder a queued or running
        job reads (``core.specs.folders_read``: its parent, the image it starts from, an
        image prompt or references kept with an older job, a clip's). The queue is read
        first, then the jobs marked in one statement, only if no job was made meanwhile
        (None: one was; the next pass, soon, reads the queue again)."""
        last = await self.storage.last_job_id()
        active = await self.storage.jobs_with_status(
            JobStatus.QUEUED, JobStatus.RUNNING, scope=EVERYWHERE
        )
        needed = set().union(*(folders_read(job) for job in active))
        return await self.storage.mark_expired(cutoff, needed, last, self.batch)

    def _dirs(self, job_ids: Iterable[int]) -> list[Path]:
        return [self.storage.job_dir(job_id) for job_id in job_ids]

    async def _on_thread(self, work: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="retention")
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def start(self) -> None:
        """Run passes in the background: at once, then again soon while a bound was
        reached (``PAUSE``), else every ``interval`` seconds."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the passes; files being removed stop between two jobs, their rows left
        for the next start."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        executor, self._executor = self._executor, None
        if executor is not None:  # at most one job's files in flight
            await asyncio.to_thread(executor.shutdown)

    async def _run(self) -> None:
        while True:
            try:
                done = await self.sweep()
            except Exception:  # the next pass tries again; the bot goes on
                logger.exception("the retention sweep failed")
                done = SweepPass()
            if done.more:
                await asyncio.sleep(PAUSE)
                continue
            self.caught_up.set()
            await asyncio.sleep(self.interval)
            self.caught_up.clear()


def remove_files(directories: Iterable[Path], stopping: threading.Event) -> list[int | None]:
    """Remove each job folder's files and the folder, in order until ``stopping``: the
    bytes freed for each folder that is gone (one gone already is no error: a pass a stop
    cut short is done again), None for one that could not be removed (logged; the next
    folders go on). Blocking: the sweep's thread."""
    done: list[int | None] = []
    for directory in directories:
        if stopping.is_set():
            break
        try:
            done.append(_remove_folder(directory))
        except OSError as exc:
            logger.warning("retention: the folder %s could not be removed: %r", directory, exc)
            done.append(None)
    return done


def _remove_folder(directory: Path) -> int:
    """Remove a folder and its files; the bytes freed. A file written into it meanwhile (a
    /history thumbnail) is removed too, a few times at most, else ``OSError``."""
    freed = 0
    for _ in range(REMOVE_TRIES):
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            return freed
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                size = entry.stat(follow_symlinks=False).st_size
                _unlink(entry.path)
                freed += size
        try:
            directory.rmdir()
        except FileNotFoundError:
            return freed
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:
                raise
            continue
        return freed
    raise OSError(errno.ENOTEMPTY, "files keep coming", str(directory))


def measure(directories: Iterable[Path], stopping: threading.Event) -> list[int]:
    """Bytes each job folder's files take (0: no folder), in order until ``stopping``; a
    folder that cannot be read counts what could be (logged). Blocking: the sweep's
    thread."""
    sizes = []
    for directory in directories:
        if stopping.is_set():
            break
        total = 0
        try:
            for entry in os.scandir(directory):
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("retention: the folder %s could not be measured: %r", directory, exc)
        sizes.append(total)
    return sizes

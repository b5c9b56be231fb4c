"""KEEP_IMAGES_DAYS: a background sweep deletes the image files of older jobs (the rows,
recipes and image rows stay), measures what new jobs' files take for the disk total
/info shows admins, and gives the database's free pages back, a bounded amount of each
per pass. Files are removed and measured on a thread of the sweep's own, never on the
event loop nor on a pool the rest of the bot needs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from core.errors import UnknownJob
from core.model import Job
from storage.db import Storage

logger = logging.getLogger(__name__)

BATCH = 200  # jobs a pass expires, and jobs it measures, at most
INTERVAL = 3600.0  # seconds between passes once there is no backlog
# Seconds between passes while there is: the database's thread, which the bot shares, is
# never held by passes back to back (the first start after an upgrade measures every job).
PAUSE = 0.05
VACUUM_PAGES = 128  # free pages a pass gives back (about 7 ms of the database's thread)

T = TypeVar("T")


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
        expired: list[int] = []
        freed = 0
        if self.keep_days > 0:
            cutoff = self.storage.clock() - timedelta(days=self.keep_days)
            expired = await self.storage.expirable_jobs(cutoff, self.batch)
            if expired:
                done, freed = await self._on_thread(
                    remove_files, self._dirs(expired), self._stopping
                )
                # Marked once their files are gone: a stop before leaves the rows to the
                # next pass, which finds nothing left to remove and marks them.
                expired = expired[:done]
                await self.storage.mark_expired(expired)
            if expired:
                logger.info(
                    "retention: the images of %d jobs expired (%s to %s), %.1f MB freed",
                    len(expired),
                    expired[0],
                    expired[-1],
                    freed / 1e6,
                )
        unmeasured = await self.storage.unmeasured_jobs(self.batch)
        if unmeasured:
            sizes = await self._on_thread(measure, self._dirs(unmeasured), self._stopping)
            await self.storage.record_disk_bytes(dict(zip(unmeasured, sizes, strict=False)))
        free = await self.storage.release_free_pages(self.vacuum_pages)
        # Again soon while a bound was reached, or free pages are left and going down.
        fewer = self._free is None or free < self._free
        more = self.batch in (len(expired), len(unmeasured)) or (free > 0 and fewer)
        self._free = free
        return SweepPass(len(expired), freed, len(unmeasured), free, more)

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


def remove_files(directories: Iterable[Path], stopping: threading.Event) -> tuple[int, int]:
    """Remove each job folder's files and the folder, in order until ``stopping``; how many
    folders, and the bytes freed. Files already gone are no error (a pass a stop cut short
    is done again). Blocking: the sweep's thread."""
    done = freed = 0
    for directory in directories:
        if stopping.is_set():
            break
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for entry in os.scandir(directory):
                with contextlib.suppress(FileNotFoundError):
                    size = entry.stat(follow_symlinks=False).st_size
                    os.unlink(entry.path)
                    freed += size
        with contextlib.suppress(OSError):  # gone already, or a file came meanwhile
            directory.rmdir()
        done += 1
    return done, freed


def measure(directories: Iterable[Path], stopping: threading.Event) -> list[int]:
    """Bytes each job folder's files take (0: no folder), in order until ``stopping``.
    Blocking: the sweep's thread."""
    sizes = []
    for directory in directories:
        if stopping.is_set():
            break
        total = 0
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for entry in os.scandir(directory):
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat(follow_symlinks=False).st_size
        sizes.append(total)
    return sizes

"""Retention's rows (``core.retention``): the jobs whose images are due to expire, the ones
whose files are not measured yet, marking them, the disk total /info shows admins, and
giving free pages back to the file system."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from core.model import JobStatus
from storage.connection import INCREMENTAL_VACUUM, _iso
from storage.images import ImageFiles

logger = logging.getLogger(__name__)

_ACTIVE = f"'{JobStatus.QUEUED}', '{JobStatus.RUNNING}'"
_FINAL = ", ".join(f"'{status}'" for status in JobStatus if status.is_final)


# The oldest jobs whose files are still there (the partial index holds only those:
# expired and purged jobs are never read again), created before the cutoff, finished and
# delivered, with no child queued or running that starts from their images.
EXPIRABLE_SQL = (
    "SELECT id FROM jobs INDEXED BY jobs_unexpired"
    " WHERE images_expired_at IS NULL AND purged_at IS NULL AND created_at < ?"
    f" AND status NOT IN ({_ACTIVE}) AND delivered_at IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM jobs AS child"
    f"  WHERE child.parent_id = jobs.id AND child.status IN ({_ACTIVE}))"
    " ORDER BY created_at LIMIT ?"
)
# Finished, delivered jobs whose files are not measured yet (the newest, and at first
# every job of a database from before retention).
UNMEASURED_SQL = (
    "SELECT id FROM jobs INDEXED BY jobs_unmeasured"
    f" WHERE disk_bytes IS NULL AND status IN ({_FINAL}) AND delivered_at IS NOT NULL"
    " ORDER BY id LIMIT ?"
)


class RetentionRows(ImageFiles):
    """Which jobs' files the sweep removes or measures next, and what it recorded."""

    async def expirable_jobs(self, created_before: datetime, limit: int) -> list[int]:
        """Ids of at most ``limit`` jobs created before ``created_before`` whose files may
        go now, oldest first."""
        async with self.db.execute(EXPIRABLE_SQL, (_iso(created_before), limit)) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def mark_expired(self, job_ids: Iterable[int]) -> None:
        """Record that the jobs' files are gone (their disk bytes leave the total); the
        rows stay. A job an admin purged meanwhile keeps its purge."""
        now = _iso(self.clock())
        await self.db.executemany(
            "UPDATE jobs SET images_expired_at = ?, disk_bytes = 0"
            " WHERE id = ? AND images_expired_at IS NULL AND purged_at IS NULL",
            [(now, int(job_id)) for job_id in job_ids],
        )
        await self.db.commit()

    async def unmeasured_jobs(self, limit: int) -> list[int]:
        """Ids of at most ``limit`` finished, delivered jobs whose files are not measured."""
        async with self.db.execute(UNMEASURED_SQL, (limit,)) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def record_disk_bytes(self, sizes: Mapping[int, int]) -> None:
        """What the jobs' files take, as measured (the total follows: a trigger); a job
        purged or expired meanwhile keeps its 0."""
        await self.db.executemany(
            "UPDATE jobs SET disk_bytes = ? WHERE id = ? AND disk_bytes IS NULL",
            [(int(size), int(job_id)) for job_id, size in sizes.items()],
        )
        await self.db.commit()

    async def disk_used(self) -> int:
        """Bytes the measured jobs' files take on disk (one row: cheap for /info)."""
        async with self.db.execute("SELECT bytes FROM disk_usage WHERE id = 1") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row is not None else 0

    async def release_free_pages(self, pages: int) -> int:
        """Give at most ``pages`` free pages of the database back to the file system
        (``PRAGMA incremental_vacuum``; nothing unless the database is in incremental
        auto-vacuum mode); the pages still free (0 when not in that mode: none to give)."""
        if await self._pragma("auto_vacuum") != INCREMENTAL_VACUUM:
            return 0
        # A script: sqlite3's execute steps the pragma once, which frees one page.
        await self.db.executescript(f"PRAGMA incremental_vacuum({int(pages)})")
        return await self._pragma("freelist_count")

    async def _pragma(self, name: str) -> int:
        async with self.db.execute(f"PRAGMA {name}") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row is not None else 0

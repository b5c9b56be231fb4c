"""Retention's rows (``core.retention``): marking the jobs whose images expire now, the
ones marked whose files are not all gone yet, the ones whose files are not measured yet,
the disk total /info shows admins, and giving free pages back to the file system."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from core.model import JobStatus
from storage.connection import INCREMENTAL_VACUUM, _iso
from storage.images import ImageFiles

logger = logging.getLogger(__name__)

_ACTIVE = f"'{JobStatus.QUEUED}', '{JobStatus.RUNNING}'"
_FINAL = ", ".join(f"'{status}'" for status in JobStatus if status.is_final)
# A finished job's result is posted, or it never will be: delivered, without a channel (the
# command line's), or finished long enough ago (a deleted channel, a server the bot left).
_SETTLED = "(delivered_at IS NOT NULL OR channel_id IS NULL OR finished_at < ?)"


# Marks the oldest jobs whose files are still there (the partial index holds only those:
# expired and purged jobs are never read again), created before the cutoff, finished and
# settled, that no queued or running job reads (``needed``: the ids the sweep found in the
# queue's recipes, as a JSON list; and any job's direct child at work). Only while no job
# was made since the sweep read the queue (the last id it saw): else none, this pass.
EXPIRE_SQL = (
    "UPDATE jobs SET images_expired_at = ? WHERE id IN ("
    " SELECT id FROM jobs INDEXED BY jobs_unexpired"
    "  WHERE images_expired_at IS NULL AND purged_at IS NULL AND created_at < ?"
    f"  AND status NOT IN ({_ACTIVE}) AND {_SETTLED}"
    "  AND id NOT IN (SELECT value FROM json_each(?))"
    "  AND NOT EXISTS (SELECT 1 FROM jobs AS child"
    f"   WHERE child.parent_id = jobs.id AND child.status IN ({_ACTIVE}))"
    "  ORDER BY created_at LIMIT ?)"
    " AND (SELECT max(id) FROM jobs) IS ?"
    " RETURNING id"
)
# Marked jobs whose folder is not gone yet: a stop came before, or removing it failed
# (tried again once ``removal_failed_at`` is older than the given time).
EXPIRING_SQL = (
    "SELECT id FROM jobs INDEXED BY jobs_expiring"
    " WHERE images_expired_at IS NOT NULL AND disk_bytes IS NOT 0"
    " AND (removal_failed_at IS NULL OR removal_failed_at < ?)"
    " ORDER BY id LIMIT ?"
)
# Finished, settled jobs whose files are not measured yet (the newest, and at first every
# job of a database from before retention); a delivery that waits is given a grace time.
UNMEASURED_SQL = (
    "SELECT id FROM jobs INDEXED BY jobs_unmeasured"
    f" WHERE disk_bytes IS NULL AND images_expired_at IS NULL AND status IN ({_FINAL})"
    f" AND {_SETTLED} ORDER BY id LIMIT ?"
)


class RetentionRows(ImageFiles):
    """Which jobs' files the sweep removes or measures next, and what it recorded."""

    async def last_job_id(self) -> int | None:
        """The newest job's id (None: no job yet)."""
        async with self.db.execute("SELECT max(id) FROM jobs") as cursor:
            row = await cursor.fetchone()
        return None if row is None else row[0]

    async def mark_expired(
        self,
        created_before: datetime,
        needed: Iterable[int],
        last_id: int | None,
        limit: int,
    ) -> list[int] | None:
        """Mark at most ``limit`` jobs created before ``created_before`` whose files go
        now, none of ``needed`` (``EXPIRE_SQL``); their ids, oldest first. None while a
        job newer than ``last_id`` exists: the caller reads the queue again."""
        cutoff = _iso(created_before)
        args = (
            _iso(self.clock()),
            cutoff,
            cutoff,
            json.dumps(sorted({int(job_id) for job_id in needed})),
            limit,
            last_id,
        )
        async with self.db.execute(EXPIRE_SQL, args) as cursor:
            marked = sorted(row[0] for row in await cursor.fetchall())
        await self.db.commit()
        if not marked and await self.last_job_id() != last_id:
            return None
        return marked

    async def expiring_jobs(self, failed_before: datetime, limit: int) -> list[int]:
        """Ids of at most ``limit`` marked jobs whose folder is not gone yet (one whose
        removal failed only if that was before ``failed_before``), in id order."""
        args = (_iso(failed_before), limit)
        async with self.db.execute(EXPIRING_SQL, args) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def record_removed(self, job_ids: Iterable[int]) -> None:
        """The marked jobs' folders are gone: their disk bytes leave the total."""
        await self.db.executemany(
            "UPDATE jobs SET disk_bytes = 0 WHERE id = ? AND images_expired_at IS NOT NULL",
            [(int(job_id),) for job_id in job_ids],
        )
        await self.db.commit()

    async def record_removal_failed(self, job_ids: Iterable[int]) -> None:
        """Removing the marked jobs' folders failed now: tried again later."""
        now = _iso(self.clock())
        await self.db.executemany(
            "UPDATE jobs SET removal_failed_at = ? WHERE id = ?",
            [(now, int(job_id)) for job_id in job_ids],
        )
        await self.db.commit()

    async def unmeasured_jobs(self, settled_before: datetime, limit: int) -> list[int]:
        """Ids of at most ``limit`` finished jobs whose files are not measured: delivered,
        without a channel, or finished before ``settled_before``."""
        args = (_iso(settled_before), limit)
        async with self.db.execute(UNMEASURED_SQL, args) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def record_disk_bytes(self, sizes: Mapping[int, int]) -> None:
        """What the jobs' files take, as measured (the total follows: a trigger); a job
        purged or expired meanwhile keeps its 0."""
        await self.db.executemany(
            "UPDATE jobs SET disk_bytes = ? WHERE id = ? AND disk_bytes IS NULL",
            [(int(size), int(job_id)) for job_id, size in sizes.items()],
        )
        await self.db.commit()

    async def add_disk_bytes(self, sizes: Mapping[int, int]) -> None:
        """Files written into measured jobs' folders since (a /history thumbnail): their
        bytes join the total. A job not measured yet counts them when it is."""
        await self.db.executemany(
            "UPDATE jobs SET disk_bytes = disk_bytes + ? WHERE id = ? AND disk_bytes IS NOT NULL"
            " AND images_expired_at IS NULL AND purged_at IS NULL",
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

"""The jobs table: a job's row from admission to delivery."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from core.model import Job, JobParams, JobStatus, NewJob, Scope
from core.recipes import RecipeError
from core.recipes import from_json as recipe_from_json
from core.recipes import to_json as recipe_to_json
from storage.connection import Database, _in_scope, _iso

logger = logging.getLogger(__name__)


class FoldersGone(Exception):
    """Jobs not written: an older job's folder they read is gone or going (its images
    expired or were purged since their admission checked)."""

    def __init__(self, job_ids: list[int]) -> None:
        super().__init__(f"the folders of jobs {job_ids} are gone")
        self.job_ids = job_ids


# Of the jobs in a JSON list of ids, those whose files are gone or going.
_REMOVED = (
    "id IN (SELECT value FROM json_each(?))"
    " AND (images_expired_at IS NOT NULL OR purged_at IS NOT NULL)"
)
# The rows, written only while none of the folders they read is marked gone: in the
# insert itself, so that no retention pass slips in between a check and the write on
# this shared connection.
_WHILE_KEPT = f" WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE {_REMOVED})"

# Status conditions as SQL text, from the one enum (no status is spelled twice).
_FINAL_SQL = ", ".join(f"'{status}'" for status in JobStatus if status.is_final)
ACTIVE_SQL = f"'{JobStatus.QUEUED}', '{JobStatus.RUNNING}'"
# A job counts against a quota when it runs the model: not one cancelled before it ran,
# nor one that failed (the bot's fault).
COUNTED_SQL = (
    f"status != '{JobStatus.FAILED}'"
    f" AND NOT (status = '{JobStatus.CANCELLED}' AND started_at IS NULL)"
)

# The kind column is the recipe's tag, for queries; a Job reads it from its recipe.
JOB_COLUMNS = (
    "id, parent_id, parent_index, user_id, guild_id, channel_id, message_id, prompt,"
    " negative, params, recipe, seed, status, error, attempts, created_at, started_at,"
    " finished_at, delivered_at, purged_at, gpu_seconds, mode, moved, gpu_estimate,"
    " images_expired_at"
)


def job_from_row(row: Sequence[Any]) -> Job:
    """A ``JOB_COLUMNS`` row as a ``Job``."""
    values = list(row)
    values[9] = JobParams.from_json(values[9])
    values[10] = recipe_from_json(values[10])
    values[12] = JobStatus(values[12])
    values[22] = bool(values[22])
    return Job(*values)


class JobRows(Database):
    """Queries on the jobs table."""

    async def create_job(self, new: NewJob) -> Job:
        """Write a queued job and return it with its id."""
        (job,) = await self.create_jobs([new])
        return job

    async def create_jobs(
        self, news: Sequence[NewJob], *, reads: Collection[int] = ()
    ) -> list[Job]:
        """Write queued jobs in one transaction and return them with their ids, in order.
        ``reads``: older jobs whose folders they read; ``FoldersGone`` (nothing written)
        if any of those is expired or purged by then."""
        if not news:
            return []
        now = _iso(self.clock())
        unknown = sorted({new.user_id for new in news} - self._known_users)
        args: list[Any] = []
        for new in news:
            args += [
                new.kind,
                new.parent_id,
                new.parent_index,
                new.user_id,
                new.guild_id,
                new.channel_id,
                new.prompt,
                new.negative,
                new.params.to_json(),
                recipe_to_json(new.recipe),
                new.seed,
                JobStatus.QUEUED,
                now,
                new.mode or "fast",
                int(new.moved),
                new.gpu_estimate,
            ]
        # RETURNING: the rows as written, without another round trip (admission is timed).
        # One call that also steps the statement to its end: a RETURNING statement left
        # half-read would make the next commit on this shared connection fail. The rows
        # of one statement get increasing ids in the order of its VALUES; RETURNING's own
        # order is not promised, so they are sorted by id.
        try:
            if unknown:
                await self.db.execute(
                    "INSERT OR IGNORE INTO users (id, first_seen) VALUES "
                    + ", ".join("(?, ?)" for _ in unknown),
                    [value for user_id in unknown for value in (user_id, now)],
                )
            values = "VALUES " + ", ".join(
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" for _ in news
            )
            if reads:
                values = f"SELECT * FROM ({values}){_WHILE_KEPT}"
                args.append(json.dumps(sorted({int(job_id) for job_id in reads})))
            rows = await self.db.execute_fetchall(
                "INSERT INTO jobs (kind, parent_id, parent_index, user_id, guild_id, channel_id,"
                " prompt, negative, params, recipe, seed, status, created_at, mode, moved,"
                f" gpu_estimate) {values} RETURNING {JOB_COLUMNS}",
                args,
            )
            if not rows:
                raise FoldersGone(await self.removed_jobs(reads))
            await self.db.commit()
        except BaseException:
            await asyncio.shield(self.db.rollback())  # none of them, not half of them
            raise
        self._known_users.update(unknown)
        jobs = sorted((job_from_row(row) for row in rows), key=lambda job: job.id)
        assert len(jobs) == len(news)
        return jobs

    async def removed_jobs(self, job_ids: Iterable[int]) -> list[int]:
        """Those of the jobs whose files are gone or going (expired or purged)."""
        ids = json.dumps(sorted({int(job_id) for job_id in job_ids}))
        async with self.db.execute(
            f"SELECT id FROM jobs WHERE {_REMOVED} ORDER BY id", (ids,)
        ) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def get_job(self, job_id: int, *, scope: Scope) -> Job | None:
        """The job with this id in ``scope``, or None (a job of another server is None too)."""
        where, args = _in_scope(scope)
        async with self.db.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND {where}", (job_id, *args)
        ) as cursor:
            row = await cursor.fetchone()
        return job_from_row(row) if row else None

    async def jobs_with_status(
        self,
        *statuses: JobStatus,
        scope: Scope,
        user_id: int | None = None,
        after: int = 0,
        limit: int = -1,
    ) -> list[Job]:
        """Jobs in ``scope`` in any of ``statuses`` (of one user, if given), oldest first:
        the first ``limit`` (-1: all) of those after job ``after``."""
        marks = ",".join("?" * len(statuses))
        where, args = _in_scope(scope)
        query = f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN ({marks}) AND {where}"
        if all(not JobStatus(status).is_final for status in statuses):
            # Spelled as the partial index jobs_active_guild is, so that a server's or a
            # member's queue is read from an index as small as the queue (/admin queue,
            # /info), never from the server's whole history.
            query += f" AND status IN ({ACTIVE_SQL})"
        if user_id is not None:
            query += " AND user_id = ?"
            args = (*args, user_id)
        query += " AND id > ? ORDER BY id LIMIT ?"
        async with self.db.execute(query, (*statuses, *args, after, limit)) as cursor:
            rows = await cursor.fetchall()
        jobs = []
        for row in rows:
            try:
                jobs.append(job_from_row(row))
            except RecipeError as exc:
                # A row this version cannot read (edited by hand, or written by another
                # version) fails alone, instead of stopping every listing and the restart.
                logger.error("job %s cannot be read: %s", row[0], exc)
                if not JobStatus(row[12]).is_final:
                    await self.finish_job(row[0], JobStatus.FAILED, "the job's recipe is not valid")
        return jobs

    async def queued_ids(self) -> list[int]:
        """The ids of every queued job, oldest first (from the status index alone)."""
        rows = await self.db.execute_fetchall(
            f"SELECT id FROM jobs WHERE status = '{JobStatus.QUEUED}' ORDER BY id"
        )
        return [row[0] for row in rows]

    async def count_jobs(self) -> int:
        """All job rows."""
        async with self.db.execute("SELECT COUNT(*) FROM jobs") as cursor:
            row = await cursor.fetchone()
        return int(row[0])

    async def queued_by_mode(self) -> dict[str, int]:
        """Jobs waiting to start in every server, by mode (fast, relax): the metrics'."""
        query = (
            f"SELECT mode, COUNT(*) FROM jobs WHERE status IN ({ACTIVE_SQL})"
            f" AND status = '{JobStatus.QUEUED}' GROUP BY mode"
        )
        async with self.db.execute(query) as cursor:
            return {str(mode): int(count) async for mode, count in cursor}

    async def mark_running(self, job_id: int) -> None:
        """queued -> running; counts an attempt."""
        await self.db.execute(
            "UPDATE jobs SET status = ?, started_at = ?, attempts = attempts + 1 WHERE id = ?",
            (JobStatus.RUNNING, _iso(self.clock()), job_id),
        )
        await self.db.commit()

    async def mark_queued(self, job_id: int, *, refund_attempt: bool = False) -> None:
        """Back to queued: a job that was running when the bot stopped.

        ``refund_attempt`` for a clean shutdown, which is no failure of the job.
        """
        await self.db.execute(
            "UPDATE jobs SET status = ?, started_at = NULL,"
            " attempts = MAX(0, attempts - ?) WHERE id = ? AND status = ?",
            (JobStatus.QUEUED, 1 if refund_attempt else 0, job_id, JobStatus.RUNNING),
        )
        await self.db.commit()

    async def finish_job(
        self, job_id: int, status: JobStatus, error: str | None = None, gpu_seconds: float = 0.0
    ) -> None:
        """Set a final status (done, failed, cancelled) with its error text, adding the
        device seconds its run spent (``gpu_seconds`` stays NULL for a job that never ran)."""
        if not JobStatus(status).is_final:
            raise ValueError(f"not a final status: {status}")
        spent = float(gpu_seconds)
        await self.db.execute(
            "UPDATE jobs SET status = ?, error = ?, finished_at = ?,"
            " gpu_seconds = CASE WHEN ? > 0 THEN COALESCE(gpu_seconds, 0) + ? ELSE gpu_seconds END"
            " WHERE id = ?",
            (status, error, _iso(self.clock()), spent, spent, job_id),
        )
        await self.db.commit()

    async def measured_jobs(self, limit: int) -> list[Job]:
        """The newest ``limit`` done jobs whose GPU seconds were measured, newest first."""
        rows = await self.db.execute_fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE status = '{JobStatus.DONE}'"
            " AND gpu_seconds > 0 ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [job_from_row(row) for row in rows]

    async def add_gpu_seconds(self, job_id: int, seconds: float) -> None:
        """Add device seconds a job spent after its row was finished (a cancelled call
        stops at its next step)."""
        await self.db.execute(
            "UPDATE jobs SET gpu_seconds = COALESCE(gpu_seconds, 0) + ? WHERE id = ?",
            (float(seconds), job_id),
        )
        await self.db.commit()

    async def set_message(self, job_id: int, channel_id: int | None, message_id: int) -> None:
        """Remember the Discord message that shows the job."""
        await self.db.execute(
            "UPDATE jobs SET channel_id = COALESCE(?, channel_id), message_id = ? WHERE id = ?",
            (channel_id, message_id, job_id),
        )
        await self.db.commit()

    async def mark_delivered(self, job_id: int, channel_id: int | None, message_id: int) -> None:
        """The job's final message is in Discord."""
        await self.db.execute(
            "UPDATE jobs SET channel_id = COALESCE(?, channel_id), message_id = ?,"
            " delivered_at = ? WHERE id = ?",
            (channel_id, message_id, _iso(self.clock()), job_id),
        )
        await self.db.commit()

    async def undelivered_jobs(self) -> list[Job]:
        """Finished jobs with a channel whose result has not reached Discord, oldest first."""
        async with self.db.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE delivered_at IS NULL"
            f" AND status IN ({_FINAL_SQL}) AND channel_id IS NOT NULL"
            " ORDER BY id"
        ) as cursor:
            return [job_from_row(row) for row in await cursor.fetchall()]

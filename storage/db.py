"""SQLite through aiosqlite: migrations, users, jobs and images; files under DATA_DIR."""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class Everywhere(enum.Enum):
    """The scope of the bot's owners and of the bot itself: every server at once."""

    EVERYWHERE = "everywhere"


EVERYWHERE = Everywhere.EVERYWHERE
# Which server a query may see: one server's id (None: no server, as for the CLI), or
# EVERYWHERE. Queries on jobs, bans and words take it with no default, so that no caller
# can forget that every server is an island.
Scope = int | None | Everywhere
# In the bans table, the guild id of a ban that holds in every server (no snowflake is 0).
ALL_SERVERS = 0


def _in_scope(scope: Scope) -> tuple[str, tuple[Any, ...]]:
    """The SQL condition on ``guild_id`` for ``scope``, and its arguments."""
    if scope is EVERYWHERE:
        return "1", ()
    return "guild_id IS ?", (scope,)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job about to be written, before it has an id."""

    kind: str
    user_id: int
    prompt: str
    negative: str
    seed: int
    params: dict[str, Any]
    guild_id: int | None = None
    channel_id: int | None = None
    parent_id: int | None = None
    parent_index: int | None = None


@dataclass(frozen=True, slots=True)
class AdmissionCounts:
    """Everything admission counts for one user in one server, read in one query: jobs
    that count against the quota today here and in every server, the quota override and
    the server's default (None: not set), the user's queued and running jobs (in every
    server: one GPU), the jobs waiting in all, the user's ban and their /settings."""

    used_here: int
    used_everywhere: int
    override: int | None
    server_default: int | None
    active_mine: int
    queued_all: int
    ban: tuple[str, bool] | None = None  # as ``ban_reason`` gives it
    settings: dict[str, Any] = field(default_factory=dict)  # the user's /settings


@dataclass(frozen=True, slots=True)
class Job:
    """A row of the jobs table."""

    id: int
    kind: str
    parent_id: int | None
    parent_index: int | None
    user_id: int
    guild_id: int | None
    channel_id: int | None
    message_id: int | None
    prompt: str
    negative: str
    params: dict[str, Any]
    seed: int
    status: str
    error: str | None
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    delivered_at: str | None = None
    purged_at: str | None = None


@dataclass(frozen=True, slots=True)
class ImageRow:
    """A row of the images table; ``path`` is relative to DATA_DIR."""

    job_id: int
    index: int
    path: str
    width: int
    height: int
    seed: int
    nsfw: bool = False


@dataclass(frozen=True, slots=True)
class AuditRow:
    """A row of the moderation log."""

    id: int
    guild_id: int | None
    actor_id: int | None
    action: str
    target: str
    details: str
    created_at: str


@dataclass
class Migration:
    """One numbered ``.sql`` file."""

    version: int
    name: str
    sql: str = field(repr=False)


def bundled_migrations() -> list[Migration]:
    """The migrations shipped in ``storage/migrations``, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


_JOB_COLUMNS = (
    "id, kind, parent_id, parent_index, user_id, guild_id, channel_id, message_id, prompt,"
    " negative, params, seed, status, error, attempts, created_at, started_at, finished_at,"
    " delivered_at, purged_at"
)


def _job(row: Sequence[Any]) -> Job:
    values = list(row)
    values[10] = json.loads(values[10])
    return Job(*values)


class Storage:
    """The database and the image files. Open with ``async with Storage(data_dir)``."""

    def __init__(self, data_dir: Path | str, *, clock: Clock = utc_now) -> None:
        self.data_dir = Path(data_dir)
        self.db_path = self.data_dir / "imaginebot.sqlite3"
        self.clock = clock
        self._db: aiosqlite.Connection | None = None
        # Users whose row is known to exist (rows are never deleted): their jobs skip the
        # insert of the user row, one round trip less on the admission path.
        self._known_users: set[int] = set()

    async def __aenter__(self) -> Storage:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        if self._db is None:
            raise RuntimeError("storage is not open")
        return self._db

    async def open(self) -> None:
        """Open the database (WAL mode) and apply pending migrations.

        DATA_DIR and its folders are the bot's alone (0700), the database 0600: prompts,
        images and moderation logs are nobody else's business on a shared machine.
        """
        await asyncio.to_thread(self._prepare_files)
        self._db = await aiosqlite.connect(self.db_path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.execute("PRAGMA busy_timeout=5000")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self.migrate()

    def _prepare_files(self) -> None:
        images = self.data_dir / "images"
        images.mkdir(mode=0o700, parents=True, exist_ok=True)
        for directory in (self.data_dir, images):
            directory.chmod(0o700)  # also when an older version created it open
        if not self.db_path.exists():
            self.db_path.touch(mode=0o600)
        for path in self.data_dir.glob(self.db_path.name + "*"):
            path.chmod(0o600)

    async def close(self) -> None:
        """Close the database."""
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def schema_version(self) -> int:
        """``PRAGMA user_version``: the number of the last migration applied."""
        async with self.db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0])

    async def migrate(self, migrations: Iterable[Migration] | None = None) -> list[int]:
        """Apply the migrations newer than ``user_version``; returns the versions applied."""
        applied = []
        current = await self.schema_version()
        for migration in migrations if migrations is not None else bundled_migrations():
            if migration.version <= current:
                continue
            # One transaction per file: a failing migration leaves the schema as it was.
            script = f"BEGIN;\n{migration.sql}\nPRAGMA user_version = {migration.version};\nCOMMIT;"
            try:
                await self.db.executescript(script)
            except Exception:
                await self.db.rollback()
                raise
            logger.info("applied migration %s", migration.name)
            applied.append(migration.version)
            current = migration.version
        return applied

    # jobs

    async def create_job(self, new: NewJob) -> Job:
        """Write a queued job and return it with its id."""
        (job,) = await self.create_jobs([new])
        return job

    async def create_jobs(self, news: Sequence[NewJob]) -> list[Job]:
        """Write queued jobs in one transaction and return them with their ids, in order."""
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
                json.dumps(new.params, sort_keys=True),
                new.seed,
                now,
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
            rows = await self.db.execute_fetchall(
                "INSERT INTO jobs (kind, parent_id, parent_index, user_id, guild_id, channel_id,"
                " prompt, negative, params, seed, status, created_at) VALUES "
                + ", ".join("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)" for _ in news)
                + f" RETURNING {_JOB_COLUMNS}",
                args,
            )
            await self.db.commit()
        except BaseException:
            await asyncio.shield(self.db.rollback())  # none of them, not half of them
            raise
        self._known_users.update(unknown)
        jobs = sorted((_job(row) for row in rows), key=lambda job: job.id)
        assert len(jobs) == len(news)
        return jobs

    async def get_job(self, job_id: int, *, scope: Scope) -> Job | None:
        """The job with this id in ``scope``, or None (a job of another server is None too)."""
        where, args = _in_scope(scope)
        async with self.db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ? AND {where}", (job_id, *args)
        ) as cursor:
            row = await cursor.fetchone()
        return _job(row) if row else None

    async def jobs_with_status(
        self, *statuses: str, scope: Scope, user_id: int | None = None
    ) -> list[Job]:
        """Jobs in ``scope`` in any of ``statuses`` (of one user, if given), oldest first."""
        marks = ",".join("?" * len(statuses))
        where, args = _in_scope(scope)
        query = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status IN ({marks}) AND {where}"
        if user_id is not None:
            query += " AND user_id = ?"
            args = (*args, user_id)
        async with self.db.execute(query + " ORDER BY id", (*statuses, *args)) as cursor:
            return [_job(row) for row in await cursor.fetchall()]

    async def count_jobs(self) -> int:
        """All job rows."""
        async with self.db.execute("SELECT COUNT(*) FROM jobs") as cursor:
            row = await cursor.fetchone()
        return int(row[0])

    async def mark_running(self, job_id: int) -> None:
        """queued -> running; counts an attempt."""
        await self.db.execute(
            "UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1"
            " WHERE id = ?",
            (_iso(self.clock()), job_id),
        )
        await self.db.commit()

    async def mark_queued(self, job_id: int, *, refund_attempt: bool = False) -> None:
        """Back to queued: a job that was running when the bot stopped.

        ``refund_attempt`` for a clean shutdown, which is no failure of the job.
        """
        await self.db.execute(
            "UPDATE jobs SET status = 'queued', started_at = NULL,"
            " attempts = MAX(0, attempts - ?) WHERE id = ? AND status = 'running'",
            (1 if refund_attempt else 0, job_id),
        )
        await self.db.commit()

    async def finish_job(self, job_id: int, status: str, error: str | None = None) -> None:
        """Set a final status (done, failed, cancelled) with its error text."""
        if status not in {"done", "failed", "cancelled"}:
            raise ValueError(f"not a final status: {status}")
        await self.db.execute(
            "UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
            (status, error, _iso(self.clock()), job_id),
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
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE delivered_at IS NULL"
            " AND status IN ('done', 'failed', 'cancelled') AND channel_id IS NOT NULL"
            " ORDER BY id"
        ) as cursor:
            return [_job(row) for row in await cursor.fetchall()]

    # quotas and user settings

    async def set_quota(self, guild_id: int, user_id: int | None, daily: int | None) -> None:
        """Set (or with None clear) a user's override, or the server's default without user."""
        if user_id is None:
            await self.db.execute(
                "INSERT INTO guild_settings (guild_id, daily_quota) VALUES (?, ?)"
                " ON CONFLICT (guild_id) DO UPDATE SET daily_quota = excluded.daily_quota",
                (guild_id, daily),
            )
        elif daily is None:
            await self.db.execute(
                "DELETE FROM quota_overrides WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
        else:
            await self.db.execute(
                "INSERT INTO quota_overrides (guild_id, user_id, daily_quota) VALUES (?, ?, ?)"
                " ON CONFLICT (guild_id, user_id) DO UPDATE SET daily_quota = excluded.daily_quota",
                (guild_id, user_id, daily),
            )
        await self.db.commit()

    async def admission_counts(
        self, user_id: int, guild_id: int | None, since: datetime
    ) -> AdmissionCounts:
        """``admission_counts_many`` for one user."""
        (counts,) = await self.admission_counts_many([(user_id, guild_id)], since)
        return counts

    async def admission_counts_many(
        self, who: Sequence[tuple[int, int | None]], since: datetime
    ) -> list[AdmissionCounts]:
        """What the ban, quota and limit checks need for each (user, server), in one round
        trip for all of them: admission runs for every command while Discord's 3 s run,
        and a burst of commands is admitted together.

        A job counts against a quota since ``since`` when it runs the model: not one
        cancelled before it ran, nor one that failed (the bot's fault)."""
        if not who:
            return []
        counted = "status != 'failed' AND NOT (status = 'cancelled' AND started_at IS NULL)"
        values = ", ".join("(?, ?, ?, ?)" for _ in who)
        args: list[Any] = [_iso(since), ALL_SERVERS]
        for position, (user_id, guild_id) in enumerate(who):
            args += [position, user_id, guild_id, -1 if guild_id is None else guild_id]
        # execute_fetchall: one hop to the database thread (execute, fetch and close would
        # be three, each waiting for the GIL while the worker runs the model).
        rows = await self.db.execute_fetchall(
            "WITH p(since, everywhere) AS (SELECT ?, ?),"
            f" who(position, user_id, guild_id, here) AS (VALUES {values})"
            " SELECT"
            " (SELECT COUNT(*) FROM jobs j WHERE j.user_id = who.user_id"
            f"  AND j.guild_id IS who.guild_id AND j.created_at >= p.since AND {counted}),"
            " (SELECT COUNT(*) FROM jobs j WHERE j.user_id = who.user_id"
            f"  AND j.created_at >= p.since AND {counted}),"
            " (SELECT daily_quota FROM quota_overrides q"
            "  WHERE q.guild_id = who.guild_id AND q.user_id = who.user_id),"
            " (SELECT daily_quota FROM guild_settings g WHERE g.guild_id = who.guild_id),"
            " (SELECT COUNT(*) FROM jobs j WHERE j.user_id = who.user_id"
            "  AND j.status IN ('queued', 'running')),"
            " (SELECT COUNT(*) FROM jobs j WHERE j.status = 'queued'),"
            " (SELECT reason FROM bans b WHERE b.user_id = who.user_id"
            "  AND b.guild_id IN (p.everywhere, who.here)"
            # An ORDER BY in a subquery cannot see the outer row: the constant itself.
            f"  ORDER BY b.guild_id = {int(ALL_SERVERS)} DESC LIMIT 1),"
            " (SELECT MAX(b.guild_id = p.everywhere) FROM bans b WHERE b.user_id = who.user_id"
            "  AND b.guild_id IN (p.everywhere, who.here)),"
            " (SELECT settings FROM users u WHERE u.id = who.user_id)"
            " FROM who, p ORDER BY who.position",
            args,
        )
        result = []
        for row in rows:
            *counts, reason, everywhere, settings = row
            ban = None if everywhere is None else (reason or "", bool(everywhere))
            mine = json.loads(settings) if settings else {}
            result.append(AdmissionCounts(*counts, ban=ban, settings=mine))
        return result

    async def user_settings(self, user_id: int) -> dict[str, Any]:
        """The user's /settings defaults."""
        rows = await self.db.execute_fetchall("SELECT settings FROM users WHERE id = ?", (user_id,))
        row = next(iter(rows), None)
        return json.loads(row[0]) if row else {}

    async def set_user_settings(self, user_id: int, settings: dict[str, Any]) -> None:
        """Replace the user's /settings defaults."""
        await self.db.execute(
            "INSERT INTO users (id, first_seen, settings) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET settings = excluded.settings",
            (user_id, _iso(self.clock()), json.dumps(settings, sort_keys=True)),
        )
        await self.db.commit()

    async def user_jobs(
        self, user_id: int, guild_id: int | None, *, offset: int = 0, limit: int = 10
    ) -> tuple[list[Job], int]:
        """A user's jobs in a server, newest first (a page of them), and how many in all."""
        where = "WHERE user_id = ? AND guild_id IS ?"
        async with self.db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs {where} ORDER BY id DESC LIMIT ? OFFSET ?",
            (user_id, guild_id, limit, offset),
        ) as cursor:
            jobs = [_job(row) for row in await cursor.fetchall()]
        async with self.db.execute(
            f"SELECT COUNT(*) FROM jobs {where}", (user_id, guild_id)
        ) as cursor:
            row = await cursor.fetchone()
        return jobs, int(row[0])

    # moderation

    async def ban(self, guild_id: int, user_id: int, reason: str, banned_by: int) -> None:
        """Ban (or re-ban with a new reason) a user in a server (``ALL_SERVERS``: in all)."""
        await self.db.execute(
            "INSERT INTO bans (guild_id, user_id, reason, banned_by, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET"
            " reason = excluded.reason, banned_by = excluded.banned_by,"
            " created_at = excluded.created_at",
            (guild_id, user_id, reason, banned_by, _iso(self.clock())),
        )
        await self.db.commit()

    async def unban(self, guild_id: int, user_id: int) -> bool:
        """Lift a ban in a server (``ALL_SERVERS``: the ban in all); False when none."""
        cursor = await self.db.execute(
            "DELETE FROM bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        await self.db.commit()
        return cursor.rowcount > 0

    async def ban_reason(self, guild_id: int | None, user_id: int) -> tuple[str, bool] | None:
        """Why the user is banned in the server ('' without a reason) and whether the ban
        holds in every server; None when they are not banned there."""
        async with self.db.execute(
            "SELECT reason, guild_id = ? FROM bans WHERE user_id = ? AND guild_id IN (?, ?)"
            " ORDER BY guild_id = ? DESC LIMIT 1",
            (ALL_SERVERS, user_id, ALL_SERVERS, -1 if guild_id is None else guild_id, ALL_SERVERS),
        ) as cursor:
            row = await cursor.fetchone()
        return (row[0], bool(row[1])) if row else None

    async def blocked_words(self, guild_id: int | None) -> list[str]:
        """The server's blocked words and phrases, in the order they were added."""
        if guild_id is None:
            return []
        async with self.db.execute(
            "SELECT phrase FROM blocked_words WHERE guild_id = ? ORDER BY created_at, rowid",
            (guild_id,),
        ) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def count_blocked_words(self, guild_id: int) -> int:
        """How many words and phrases the server blocks."""
        async with self.db.execute(
            "SELECT COUNT(*) FROM blocked_words WHERE guild_id = ?", (guild_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0])

    async def add_blocked_word(self, guild_id: int, phrase: str, added_by: int) -> bool:
        """Block a word or phrase; False when it was already blocked."""
        cursor = await self.db.execute(
            "INSERT OR IGNORE INTO blocked_words (guild_id, phrase, added_by, created_at)"
            " VALUES (?, ?, ?, ?)",
            (guild_id, phrase, added_by, _iso(self.clock())),
        )
        await self.db.commit()
        return cursor.rowcount > 0

    async def remove_blocked_word(self, guild_id: int, phrase: str) -> bool:
        """Unblock; False when it was not blocked."""
        cursor = await self.db.execute(
            "DELETE FROM blocked_words WHERE guild_id = ? AND phrase = ?", (guild_id, phrase)
        )
        await self.db.commit()
        return cursor.rowcount > 0

    async def add_audit(
        self, guild_id: int | None, actor_id: int | None, action: str, target: str, details: str
    ) -> None:
        """One row of the moderation log."""
        await self.db.execute(
            "INSERT INTO audit (guild_id, actor_id, action, target, details, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (guild_id, actor_id, action, target, details, _iso(self.clock())),
        )
        await self.db.commit()

    async def audit_page(
        self, guild_id: int | None, *, offset: int, limit: int
    ) -> tuple[list[AuditRow], int]:
        """A page of the server's audit log, newest first, and how many rows in all."""
        async with self.db.execute(
            "SELECT id, guild_id, actor_id, action, target, details, created_at FROM audit"
            " WHERE guild_id IS ? ORDER BY id DESC LIMIT ? OFFSET ?",
            (guild_id, limit, offset),
        ) as cursor:
            rows = [AuditRow(*row) for row in await cursor.fetchall()]
        async with self.db.execute(
            "SELECT COUNT(*) FROM audit WHERE guild_id IS ?", (guild_id,)
        ) as cursor:
            total = int((await cursor.fetchone())[0])
        return rows, total

    async def purge_job(self, job_id: int) -> int:
        """Delete a job's image files and rows and mark it purged; the files removed."""
        removed = 0
        directory = self.job_dir(job_id)
        if directory.is_dir():
            for path in directory.iterdir():
                path.unlink()
                removed += 1
            directory.rmdir()
        await self.db.execute("DELETE FROM images WHERE job_id = ?", (job_id,))
        await self.db.execute(
            "UPDATE jobs SET purged_at = ? WHERE id = ?", (_iso(self.clock()), job_id)
        )
        await self.db.commit()
        return removed

    # images

    def job_dir(self, job_id: int) -> Path:
        """``DATA_DIR/images/<job id>``; names come from ids, never from user text."""
        return self.data_dir / "images" / str(int(job_id))

    def image_path(self, job_id: int, index: int) -> Path:
        """Where image ``index`` (1-based) of a job lives."""
        return self.job_dir(job_id) / f"{int(index)}.png"

    def grid_path(self, job_id: int) -> Path:
        """Where a job's full-size grid lives."""
        return self.job_dir(job_id) / "grid.png"

    def write_file(self, path: Path, data: bytes) -> None:
        """Write ``data`` atomically (temp file, then rename); blocking, run it off the loop."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = path.with_suffix(path.suffix + ".tmp")
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        temp.replace(path)

    async def add_images(self, rows: Iterable[ImageRow]) -> None:
        """Record image files (replacing rows of a retried job)."""
        await self.db.executemany(
            "INSERT OR REPLACE INTO images (job_id, idx, path, width, height, seed, nsfw)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(r.job_id, r.index, r.path, r.width, r.height, r.seed, int(r.nsfw)) for r in rows],
        )
        await self.db.commit()

    async def images(self, job_id: int) -> list[ImageRow]:
        """A job's images in order."""
        async with self.db.execute(
            "SELECT job_id, idx, path, width, height, seed, nsfw FROM images"
            " WHERE job_id = ? ORDER BY idx",
            (job_id,),
        ) as cursor:
            return [ImageRow(*row[:6], bool(row[6])) for row in await cursor.fetchall()]

    def absolute(self, relative: str) -> Path:
        """An image row's path on disk."""
        return self.data_dir / relative

"""Members: their /settings, quotas, bans, history, and what admission counts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.model import ALL_SERVERS, AdmissionCounts, Job, JobStatus
from storage.connection import Database, _iso
from storage.jobs import ACTIVE_SQL, COUNTED_SQL, JOB_COLUMNS, job_from_row

# A job's weight against the quotas: a clip (its params have frames) counts p.cost.
WEIGHT = "COALESCE(SUM(CASE WHEN json_extract(j.params, '$.frames') > 0 THEN p.cost ELSE 1 END), 0)"
# A job's GPU seconds against fast time: measured once it ends (failed and cancelled runs
# too: what was spent is spent; a job cancelled before it ran spent nothing), estimated
# while it waits or runs.
FAST_SPENT = (
    "COALESCE(SUM(COALESCE(j.gpu_seconds,"
    f" CASE WHEN j.status IN ({ACTIVE_SQL}) THEN j.gpu_estimate ELSE 0 END)), 0.0)"
)


class MemberRows(Database):
    """Queries on users, quota overrides, server settings and bans."""

    async def set_fast_minutes(
        self, guild_id: int, user_id: int | None, minutes: float | None
    ) -> None:
        """Set (or with None clear) a user's fast minutes a day, or without a user the
        server's default."""
        await self._set_limit("fast_minutes", "fast_overrides", guild_id, user_id, minutes)

    async def set_quota(self, guild_id: int, user_id: int | None, daily: int | None) -> None:
        """Set (or with None clear) a user's override, or the server's default without user."""
        await self._set_limit("daily_quota", "quota_overrides", guild_id, user_id, daily)

    async def _set_limit(
        self,
        column: str,
        overrides: str,
        guild_id: int,
        user_id: int | None,
        value: float | None,
    ) -> None:
        """A daily limit: the server's default (``guild_settings.column``) without a user,
        else the user's override in ``overrides`` (its row deleted for None). ``column``
        and ``overrides`` are this module's names, never input."""
        if user_id is None:
            await self.db.execute(
                f"INSERT INTO guild_settings (guild_id, {column}) VALUES (?, ?)"
                f" ON CONFLICT (guild_id) DO UPDATE SET {column} = excluded.{column}",
                (guild_id, value),
            )
        elif value is None:
            await self.db.execute(
                f"DELETE FROM {overrides} WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
            )
        else:
            await self.db.execute(
                f"INSERT INTO {overrides} (guild_id, user_id, {column}) VALUES (?, ?, ?)"
                f" ON CONFLICT (guild_id, user_id) DO UPDATE SET {column} = excluded.{column}",
                (guild_id, user_id, value),
            )
        await self.db.commit()

    async def admission_counts(
        self, user_id: int, guild_id: int | None, since: datetime, video_cost: int = 1
    ) -> AdmissionCounts:
        """``admission_counts_many`` for one user."""
        (counts,) = await self.admission_counts_many([(user_id, guild_id)], since, video_cost)
        return counts

    async def admission_counts_many(
        self, who: Sequence[tuple[int, int | None]], since: datetime, video_cost: int = 1
    ) -> list[AdmissionCounts]:
        """What the ban, quota and limit checks need for each (user, server), in one round
        trip for all of them: admission runs for every command while Discord's 3 s run,
        and a burst of commands is admitted together.

        A job counts against a quota since ``since`` when it runs the model: not one
        cancelled before it ran, nor one that failed (the bot's fault); a clip (its
        params have frames) counts ``video_cost``."""
        if not who:
            return []
        counted = COUNTED_SQL
        values = ", ".join("(?, ?, ?, ?)" for _ in who)
        args: list[Any] = [_iso(since), ALL_SERVERS, video_cost]
        for position, (user_id, guild_id) in enumerate(who):
            args += [position, user_id, guild_id, -1 if guild_id is None else guild_id]
        # execute_fetchall: one hop to the database thread (execute, fetch and close would
        # be three, each waiting for the GIL while the worker runs the model).
        rows = await self.db.execute_fetchall(
            "WITH p(since, everywhere, cost) AS (SELECT ?, ?, ?),"
            f" who(position, user_id, guild_id, here) AS (VALUES {values})"
            " SELECT"
            f" (SELECT {WEIGHT} FROM jobs j WHERE j.user_id = who.user_id"
            f"  AND j.guild_id IS who.guild_id AND j.created_at >= p.since AND {counted}),"
            f" (SELECT {WEIGHT} FROM jobs j WHERE j.user_id = who.user_id"
            f"  AND j.created_at >= p.since AND {counted}),"
            " (SELECT daily_quota FROM quota_overrides q"
            "  WHERE q.guild_id = who.guild_id AND q.user_id = who.user_id),"
            " (SELECT daily_quota FROM guild_settings g WHERE g.guild_id = who.guild_id),"
            " (SELECT COUNT(*) FROM jobs j WHERE j.user_id = who.user_id"
            f"  AND j.status IN ({ACTIVE_SQL})),"
            f" (SELECT COUNT(*) FROM jobs j WHERE j.status = '{JobStatus.QUEUED}'),"
            " (SELECT reason FROM bans b WHERE b.user_id = who.user_id"
            "  AND b.guild_id IN (p.everywhere, who.here)"
            # An ORDER BY in a subquery cannot see the outer row: the constant itself.
            f"  ORDER BY b.guild_id = {int(ALL_SERVERS)} DESC LIMIT 1),"
            " (SELECT MAX(b.guild_id = p.everywhere) FROM bans b WHERE b.user_id = who.user_id"
            "  AND b.guild_id IN (p.everywhere, who.here)),"
            " (SELECT settings FROM users u WHERE u.id = who.user_id),"
            f" (SELECT {FAST_SPENT} FROM jobs j WHERE j.user_id = who.user_id"
            "  AND j.guild_id IS who.guild_id AND j.created_at >= p.since AND j.mode = 'fast'),"
            f" (SELECT {FAST_SPENT} FROM jobs j WHERE j.user_id = who.user_id"
            "  AND j.created_at >= p.since AND j.mode = 'fast'),"
            " (SELECT fast_minutes FROM fast_overrides f"
            "  WHERE f.guild_id = who.guild_id AND f.user_id = who.user_id),"
            " (SELECT fast_minutes FROM guild_settings g WHERE g.guild_id = who.guild_id),"
            " (SELECT COUNT(*) FROM jobs j WHERE j.user_id = who.user_id"
            f"  AND j.mode = 'relax' AND j.status IN ({ACTIVE_SQL}))"
            " FROM who, p ORDER BY who.position",
            args,
        )
        result = []
        for row in rows:
            *counts, reason, everywhere, settings = row[:9]
            fast_here, fast_everywhere, fast_override, fast_default, relax_mine = row[9:]
            ban = None if everywhere is None else (reason or "", bool(everywhere))
            mine = json.loads(settings) if settings else {}
            result.append(
                AdmissionCounts(
                    *counts,
                    ban=ban,
                    settings=mine,
                    fast_here=fast_here,
                    fast_everywhere=fast_everywhere,
                    fast_override=fast_override,
                    fast_server_default=fast_default,
                    relax_mine=relax_mine,
                )
            )
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
        self, user_id: int, guild_id: int | None, *, skip: int = 0, limit: int = 10
    ) -> tuple[list[Job], int]:
        """A user's jobs in a server, newest first, past the newest ``skip`` (a page of
        them), and how many in all: a seek on the job's number among the member's jobs
        there (``jobs.seq``) and a running total, the same cost at any depth and size."""
        rows = await self.db.execute_fetchall(
            "SELECT jobs FROM history_counts WHERE user_id = ? AND guild_key = IFNULL(?, 0)",
            (user_id, guild_id),
        )
        total = int(rows[0][0]) if rows else 0
        if total <= skip:
            return [], total
        rows = await self.db.execute_fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = ? AND guild_id IS ? AND seq <= ?"
            " ORDER BY seq DESC LIMIT ?",
            (user_id, guild_id, total - skip, limit),
        )
        return [job_from_row(row) for row in rows], total

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

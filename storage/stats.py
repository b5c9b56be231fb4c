"""What /admin stats reads: GPU time and jobs since a moment, in one server or in all."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.connection import Database, _iso

TOP_MEMBERS = 10  # members listed by GPU time
TOP_FAILURES = 5  # failure reasons listed


class StatsRows(Database):
    """Sums over the jobs table for /admin stats (the index ``jobs_guild_created``)."""

    async def stats(self, guild_id: int | None, since: datetime) -> dict[str, list[Any]]:
        """GPU seconds by day and member, by member (with jobs), jobs and GPU seconds by
        kind and by model, and failures by reason, for jobs created since ``since`` in
        ``guild_id`` (None: every server)."""
        where = "created_at >= ?" + ("" if guild_id is None else " AND guild_id = ?")
        args: tuple[Any, ...] = (_iso(since),) if guild_id is None else (_iso(since), guild_id)
        spent = "COALESCE(SUM(gpu_seconds), 0.0)"
        queries = {
            "by_day": f"SELECT substr(created_at, 1, 10), user_id, {spent} FROM jobs"
            f" WHERE {where} GROUP BY 1, 2 ORDER BY 1",
            "by_member": f"SELECT user_id, {spent}, COUNT(*) FROM jobs WHERE {where}"
            f" GROUP BY user_id ORDER BY 2 DESC, 3 DESC LIMIT {TOP_MEMBERS}",
            "by_kind": f"SELECT kind, COUNT(*), {spent} FROM jobs WHERE {where}"
            " GROUP BY kind ORDER BY 2 DESC",
            "by_model": "SELECT COALESCE(NULLIF(json_extract(params, '$.model'), ''), '?'),"
            f" COUNT(*), {spent} FROM jobs WHERE {where} GROUP BY 1 ORDER BY 2 DESC",
            "failures": "SELECT COALESCE(error, '?'), COUNT(*) FROM jobs"
            f" WHERE {where} AND status = 'failed' GROUP BY 1 ORDER BY 2 DESC"
            f" LIMIT {TOP_FAILURES}",
        }
        return {
            name: [tuple(row) for row in await self.db.execute_fetchall(sql, args)]
            for name, sql in queries.items()
        }

"""A server's blocked words and its moderation log."""

from __future__ import annotations

from datetime import UTC
from typing import Literal

from core.model import AuditRow
from storage.connection import Database, _iso

WordAdded = Literal["added", "present", "full"]


class ModerationRows(Database):
    """Queries on blocked words and the audit log."""

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

    async def add_blocked_word(
        self, guild_id: int, phrase: str, added_by: int, *, limit: int | None = None
    ) -> WordAdded:
        """Block a word or phrase, unless the server already blocks ``limit`` of them:
        ``added``, ``present`` (it was blocked already) or ``full``.

        The count and the insert are one statement, so that adds at the same moment
        cannot together pass the limit."""
        cursor = await self.db.execute(
            "INSERT OR IGNORE INTO blocked_words (guild_id, phrase, added_by, created_at)"
            " SELECT ?, ?, ?, ? WHERE ? IS NULL"
            " OR (SELECT COUNT(*) FROM blocked_words WHERE guild_id = ?) < ?",
            (guild_id, phrase, added_by, _iso(self.clock()), limit, guild_id, limit),
        )
        await self.db.commit()
        if cursor.rowcount > 0:
            return "added"
        async with self.db.execute(
            "SELECT 1 FROM blocked_words WHERE guild_id = ? AND phrase = ?", (guild_id, phrase)
        ) as found:
            return "present" if await found.fetchone() else "full"

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

    async def log_blocked_prompt(self, guild_id: int | None, user_id: int, last: str) -> None:
        """Count a blocked-word refusal in the member's audit row of this UTC hour (one
        row per member per hour, made by the first), which says how many and ``last``."""
        now = self.clock()
        await self.db.execute(
            "INSERT INTO audit (guild_id, actor_id, action, target, details, created_at, hour)"
            " VALUES (:guild, NULL, 'blocked_prompt', :target, :first || :last, :now, :hour)"
            " ON CONFLICT (guild_id, action, target, hour) WHERE hour IS NOT NULL"
            " DO UPDATE SET hits = hits + 1,"
            " details = (hits + 1) || ' blocked prompts this hour; last: ' || :last",
            {
                "guild": guild_id,
                "target": str(user_id),
                "first": "1 blocked prompt this hour; last: ",
                "last": last,
                "now": _iso(now),
                "hour": now.astimezone(UTC).strftime("%Y-%m-%dT%H"),
            },
        )
        await self.db.commit()

    async def audit_page(
        self, guild_id: int | None, *, skip: int, limit: int
    ) -> tuple[list[AuditRow], int]:
        """A page of the server's audit log, newest first, past the newest ``skip``, and
        how many rows in all: a seek on the row's number in its server (``audit.seq``)
        and a running total, the same cost at any depth and size."""
        rows = await self.db.execute_fetchall(
            "SELECT rows FROM audit_counts WHERE guild_key = IFNULL(?, 0)", (guild_id,)
        )
        total = int(rows[0][0]) if rows else 0
        if total <= skip:
            return [], total
        rows = await self.db.execute_fetchall(
            "SELECT id, guild_id, actor_id, action, target, details, created_at FROM audit"
            " WHERE guild_id IS ? AND seq <= ? ORDER BY seq DESC LIMIT ?",
            (guild_id, total - skip, limit),
        )
        return [AuditRow(*row) for row in rows], total

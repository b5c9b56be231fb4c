"""Blocked words and the audit log on a real SQLite file in a temp dir."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from storage.db import Storage


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_blocked_prompts_fold_into_one_row_per_member_per_utc_hour(tmp_path):
    clock = Clock(datetime(2026, 11, 21, 10, 5, tzinfo=UTC))
    async with Storage(tmp_path, clock=clock) as storage:
        await storage.add_audit(1, 900, "ban", "5", "before the flood")
        for minute, word in ((5, "'gore'"), (20, "'nude'"), (59, "'nud*'")):
            clock.now = clock.now.replace(minute=minute, second=59)
            await storage.log_blocked_prompt(1, 7, f"{word} in prompt")
        await storage.add_audit(1, 900, "unban", "5", "after the flood")
        await storage.log_blocked_prompt(1, 8, "'gore' in --no text")  # another member
        await storage.log_blocked_prompt(2, 7, "'gore' in prompt")  # another server
        clock.now += timedelta(seconds=1)  # 11:00:00: a new hour, a new row
        await storage.log_blocked_prompt(1, 7, "'fox' in saved negative")

        rows, total = await storage.audit_page(1, skip=0, limit=10)
        assert total == 5
        assert [(r.action, r.target, r.details) for r in rows] == [
            ("blocked_prompt", "7", "1 blocked prompt this hour; last: 'fox' in saved negative"),
            ("blocked_prompt", "8", "1 blocked prompt this hour; last: 'gore' in --no text"),
            ("unban", "5", "after the flood"),
            ("blocked_prompt", "7", "3 blocked prompts this hour; last: 'nud*' in prompt"),
            ("ban", "5", "before the flood"),
        ]
        # The folded row keeps the time of the hour's first refusal, and no actor.
        assert rows[3].created_at.startswith("2026-11-21T10:05:59")
        assert rows[3].actor_id is None
        assert rows[0].created_at.startswith("2026-11-21T11:00:00")
        there, _ = await storage.audit_page(2, skip=0, limit=10)
        assert [r.details for r in there] == ["1 blocked prompt this hour; last: 'gore' in prompt"]


async def test_admin_rows_are_never_folded(tmp_path):
    clock = Clock(datetime(2026, 11, 21, 10, 0, tzinfo=UTC))
    async with Storage(tmp_path, clock=clock) as storage:
        for _ in range(3):
            await storage.add_audit(1, 900, "banword_add", "gore", "")
        rows, total = await storage.audit_page(1, skip=0, limit=10)
        assert total == 3 and len({row.id for row in rows}) == 3


async def test_a_word_is_added_below_the_limit_only(tmp_path):
    async with Storage(tmp_path) as storage:
        assert await storage.add_blocked_word(1, "gore", 7, limit=2) == "added"
        assert await storage.add_blocked_word(1, "gore", 7, limit=2) == "present"
        assert await storage.add_blocked_word(1, "nude", 7, limit=2) == "added"
        assert await storage.add_blocked_word(1, "fox", 7, limit=2) == "full"
        assert await storage.add_blocked_word(1, "nude", 7, limit=2) == "present"
        assert await storage.add_blocked_word(2, "fox", 7, limit=2) == "added"  # per server
        assert await storage.add_blocked_word(1, "fox", 7) == "added"  # no limit
        assert await storage.blocked_words(1) == ["gore", "nude", "fox"]


async def test_adds_at_the_same_moment_keep_the_limit(tmp_path):
    async with Storage(tmp_path) as storage:
        outcomes = await asyncio.gather(
            *(storage.add_blocked_word(1, f"word{i}", 7, limit=10) for i in range(40))
        )
        assert sorted(outcomes).count("added") == 10
        assert set(outcomes) == {"added", "full"}
        assert await storage.count_blocked_words(1) == 10


async def test_blocked_words_are_counted_per_server(tmp_path):
    async with Storage(tmp_path) as storage:
        for word in ("gore", "nude", "gore"):
            await storage.add_blocked_word(1, word, added_by=7)
        await storage.add_blocked_word(2, "fox", added_by=8)
        assert await storage.count_blocked_words(1) == 2
        assert await storage.count_blocked_words(2) == 1
        assert await storage.count_blocked_words(3) == 0
        await storage.remove_blocked_word(1, "gore")
        assert await storage.count_blocked_words(1) == 1

"""Members (storage/members.py): quotas, bans, /settings, history, and what admission
counts, each server an island; on a real SQLite file in a temp dir."""

from __future__ import annotations

from datetime import UTC, datetime

from core.model import ALL_SERVERS
from storage.db import Storage
from tests.storage.helpers import new_job


async def test_quota_jobs_are_counted_per_server_or_everywhere(tmp_path):
    moments = iter(datetime(2026, 11, 21, 10, 0, second, tzinfo=UTC) for second in range(60))
    async with Storage(tmp_path, clock=lambda: next(moments)) as storage:
        yesterday = datetime(2026, 11, 20, tzinfo=UTC)
        today = datetime(2026, 11, 21, tzinfo=UTC)
        for guild in (1, 1, 2, None):
            await storage.create_job(new_job(guild_id=guild))
        await storage.create_job(new_job(guild_id=2, user_id=43))  # someone else's
        failed = await storage.create_job(new_job(guild_id=2))
        await storage.mark_running(failed.id)
        await storage.finish_job(failed.id, "failed", "the bot's fault")

        def counted(user: int, guild: int | None, since: datetime):
            return storage.admission_counts(user, guild, since)

        assert (await counted(42, 1, today)).used_here == 2
        assert (await counted(42, 2, today)).used_here == 1
        assert (await counted(42, None, today)).used_here == 1
        assert (await counted(42, 3, today)).used_here == 0
        assert (await counted(42, 3, today)).used_everywhere == 4
        assert (await counted(43, 1, today)).used_everywhere == 1
        assert (await counted(42, 1, yesterday)).used_everywhere == 4
        tomorrow = datetime(2026, 11, 22, tzinfo=UTC)
        assert (await counted(42, 1, tomorrow)).used_everywhere == 0


async def test_a_job_cancelled_before_it_ran_does_not_count(tmp_path):
    async with Storage(tmp_path) as storage:
        since = datetime(2000, 1, 1, tzinfo=UTC)
        before, after = await storage.create_job(new_job()), await storage.create_job(new_job())
        await storage.finish_job(before.id, "cancelled")
        await storage.mark_running(after.id)
        await storage.finish_job(after.id, "cancelled")
        counts = await storage.admission_counts(42, 1, since)
        assert (counts.used_here, counts.used_everywhere, counts.active_mine) == (1, 1, 0)


async def test_admission_counts_for_many_users_in_one_read(tmp_path):
    async with Storage(tmp_path) as storage:
        today = datetime(2000, 1, 1, tzinfo=UTC)
        for user, guild in ((42, 1), (42, 1), (42, 2), (43, 1)):
            await storage.create_job(new_job(user_id=user, guild_id=guild))
        await storage.set_user_settings(43, {"steps": 5})
        await storage.ban(2, 42, "spam", banned_by=7)
        await storage.ban(ALL_SERVERS, 44, "abuse", banned_by=7)
        await storage.set_quota(1, 43, 9)
        who = [(42, 1), (42, 2), (43, 1), (44, None), (45, 1)]
        many = await storage.admission_counts_many(who, today)
        assert many == [await storage.admission_counts(u, g, today) for u, g in who]
        assert [(c.used_here, c.used_everywhere, c.active_mine) for c in many] == [
            (2, 3, 3),
            (1, 3, 3),
            (1, 1, 1),
            (0, 0, 0),
            (0, 0, 0),
        ]
        assert {c.queued_all for c in many} == {4}
        assert [c.ban for c in many] == [None, ("spam", False), None, ("abuse", True), None]
        assert [c.override for c in many] == [None, None, 9, None, None]
        assert [c.settings for c in many] == [{}, {}, {"steps": 5}, {}, {}]
        assert await storage.admission_counts_many([], today) == []


async def test_quota_overrides_and_server_defaults_are_set_and_cleared(tmp_path):
    async with Storage(tmp_path) as storage:
        since = datetime(2000, 1, 1, tzinfo=UTC)
        await storage.set_quota(1, None, 20)  # the server's default
        await storage.set_quota(1, 42, 5)
        await storage.set_quota(1, 42, 6)  # replaces the override
        await storage.set_quota(2, 42, 3)
        mine, there = await storage.admission_counts_many([(42, 1), (42, 2)], since)
        assert (mine.override, mine.server_default) == (6, 20)
        assert (there.override, there.server_default) == (3, None)
        await storage.set_quota(1, 42, None)
        await storage.set_quota(1, None, None)
        cleared = await storage.admission_counts(42, 1, since)
        assert (cleared.override, cleared.server_default) == (None, None)
        assert (await storage.admission_counts(42, 2, since)).override == 3


async def test_settings_are_replaced_whole(tmp_path):
    async with Storage(tmp_path) as storage:
        assert await storage.user_settings(42) == {}
        await storage.set_user_settings(42, {"steps": 5, "size": "square"})
        await storage.set_user_settings(42, {"steps": 6})
        assert await storage.user_settings(42) == {"steps": 6}
        await storage.create_job(new_job())  # a known user's row is kept as it is
        assert await storage.user_settings(42) == {"steps": 6}


async def test_history_is_a_page_of_one_member_in_one_server_newest_first(tmp_path):
    async with Storage(tmp_path) as storage:
        mine = [await storage.create_job(new_job(prompt=f"fox {n}")) for n in range(5)]
        await storage.create_job(new_job(guild_id=2))  # another server
        await storage.create_job(new_job(user_id=43))  # another member
        page, total = await storage.user_jobs(42, 1, skip=1, limit=2)
        assert total == 5
        assert [job.prompt for job in page] == ["fox 3", "fox 2"]
        last, _ = await storage.user_jobs(42, 1, skip=4, limit=2)
        assert [job.id for job in last] == [mine[0].id]
        assert await storage.user_jobs(42, None) == ([], 0)


async def test_a_ban_in_all_servers_holds_everywhere_and_outlives_a_local_unban(tmp_path):
    async with Storage(tmp_path) as storage:
        await storage.ban(1, 42, "spam", banned_by=7)
        assert await storage.ban_reason(1, 42) == ("spam", False)
        assert await storage.ban_reason(2, 42) is None
        assert await storage.ban_reason(None, 42) is None
        assert await storage.ban_reason(1, 43) is None

        await storage.ban(ALL_SERVERS, 42, "abuse", banned_by=900)
        for guild in (1, 2, 12345, None):  # also a server with no rows at all
            assert await storage.ban_reason(guild, 42) == ("abuse", True)
        assert await storage.ban_reason(1, 43) is None

        assert await storage.unban(1, 42)
        assert await storage.ban_reason(1, 42) == ("abuse", True)
        assert not await storage.unban(2, 42)
        assert await storage.unban(ALL_SERVERS, 42)
        for guild in (1, 2, None):
            assert await storage.ban_reason(guild, 42) is None

"""Daily quotas: which limit applies, the UTC day, what counts, and bursts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import QuotaExceeded
from core.model import Requester
from core.services import Services

GUILD = 1
ALICE = Requester(user_id=101, guild_id=GUILD, channel_id=10)


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 21, 23, 50, tzinfo=UTC))


@pytest.fixture
async def service(make_services, clock):
    # Never started: quotas are decided before any GPU work.
    return await make_services(
        started=False, clock=clock, daily_quota=3, max_queued_per_user=50, max_queue=50
    )


async def imagine(service: Services, who: Requester = ALICE):
    return await service.jobs.imagine(who, "a fox --steps 2")


async def test_override_beats_server_default_beats_global(service):
    assert (await service.users.quota(ALICE)).limit == 3
    await service.storage.set_quota(GUILD, None, 5)
    assert (await service.users.quota(ALICE)).limit == 5
    await service.storage.set_quota(GUILD, ALICE.user_id, 1)
    assert (await service.users.quota(ALICE)).limit == 1
    other_server = Requester(user_id=ALICE.user_id, guild_id=2, channel_id=20)
    assert (await service.users.quota(other_server)).limit == 3
    await service.storage.set_quota(GUILD, ALICE.user_id, None)
    assert (await service.users.quota(ALICE)).limit == 5


async def test_over_the_limit_is_refused_with_limit_used_and_reset(service, clock):
    for _ in range(3):
        await imagine(service)
    with pytest.raises(QuotaExceeded) as caught:
        await imagine(service)
    error = caught.value
    assert (error.limit, error.used) == (3, 3)
    assert error.resets_at == datetime(2026, 11, 22, tzinfo=UTC)
    assert "3 jobs" in error.message and "00:00 UTC" in error.message
    assert await service.storage.count_jobs() == 3
    # The UTC day turns: a new quota.
    clock.now = datetime(2026, 11, 22, 0, 0, 1, tzinfo=UTC)
    status = await service.users.quota(ALICE)
    assert (status.used, status.left) == (0, 3)
    await imagine(service)


async def test_refused_cancelled_before_running_and_failed_jobs_do_not_count(service):
    first = await imagine(service)
    second = await imagine(service)
    third = await imagine(service)
    await service.jobs.cancel(first.id, ALICE)  # before it ran
    await service.storage.mark_running(second.id)
    await service.storage.finish_job(second.id, "cancelled")  # after it ran: counts
    await service.storage.mark_running(third.id)
    await service.storage.finish_job(third.id, "failed", "RuntimeError: the bot's fault")
    assert (await service.users.quota(ALICE)).used == 1


async def test_zero_means_no_jobs_and_admins_are_not_limited(service):
    await service.storage.set_quota(GUILD, ALICE.user_id, 0)
    with pytest.raises(QuotaExceeded, match="daily limit is 0"):
        await imagine(service)
    admin = Requester(user_id=ALICE.user_id, guild_id=GUILD, channel_id=10, is_admin=True)
    assert (await service.users.quota(admin)).limit is None
    for _ in range(4):
        await imagine(service, admin)


async def test_twenty_at_the_same_instant_with_a_limit_of_five_start_five(service):
    await service.storage.set_quota(GUILD, ALICE.user_id, 5)
    results = await asyncio.gather(*(imagine(service) for _ in range(20)), return_exceptions=True)
    started = [r for r in results if not isinstance(r, BaseException)]
    assert len(started) == 5
    assert all(isinstance(r, QuotaExceeded) for r in results if isinstance(r, BaseException))
    assert await service.storage.count_jobs() == 5


async def test_the_day_is_counted_in_utc(service, clock):
    # 23:50 UTC is already the next day in Tokyo, still this one in UTC.
    clock.now = datetime(2026, 11, 21, 23, 50, tzinfo=UTC)
    for _ in range(3):
        await imagine(service)
    clock.now += timedelta(minutes=9)
    with pytest.raises(QuotaExceeded):
        await imagine(service)
    clock.now += timedelta(minutes=2)
    await imagine(service)


async def test_a_prompt_of_several_jobs_is_admitted_whole_or_not_at_all(service):
    """--repeat and {}: each job counts; if they do not all fit, none starts and the
    answer says how many would."""
    from core.errors import GroupRefused

    await imagine(service)  # 1 of 3 used
    with pytest.raises(GroupRefused, match=r"makes 3 jobs .* \(only 2 would\), so none"):
        await service.jobs.imagine_all(ALICE, "a {red, blue, green} fox --steps 2")
    assert await service.storage.count_jobs() == 1
    jobs = await service.jobs.imagine_all(ALICE, "a {red, blue} fox --steps 2")
    assert [job.prompt for job in jobs] == ["a red fox", "a blue fox"]
    assert len({job.id for job in jobs}) == 2
    with pytest.raises(GroupRefused, match=r"\(none would\)"):
        await service.jobs.imagine_all(ALICE, "a fox --repeat 2 --steps 2")
    with pytest.raises(QuotaExceeded):  # one job: the plain refusal
        await imagine(service)
    assert await service.storage.count_jobs() == 3
    assert (await service.users.quota(ALICE)).used == 3


async def test_groups_arriving_together_are_each_whole(service):
    """Two requests of three jobs each in one commit, two places left in the quota for
    the second: the first passes whole, the second is refused whole."""
    from core.errors import GroupRefused

    results = await asyncio.gather(
        service.jobs.imagine_all(ALICE, "first {a, b} --steps 2"),
        service.jobs.imagine_all(ALICE, "second {a, b} --steps 2"),
        return_exceptions=True,
    )
    passed = [r for r in results if isinstance(r, list)]
    refused = [r for r in results if isinstance(r, GroupRefused)]
    assert len(passed) == 1 and len(passed[0]) == 2 and len(refused) == 1
    assert "only 1 would" in refused[0].message
    assert await service.storage.count_jobs() == 2

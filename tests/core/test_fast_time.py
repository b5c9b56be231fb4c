"""Fast time and relax (core/fast_time.py, issue 28) through real SQLite, the admission
and the runner: fast time running out moves a member's jobs to relax (relax on) or refuses
them saying when it renews (relax off); relax jobs wait behind fast ones and are fair
among themselves; overrides, the limit across servers, MAX_RELAX_PER_USER, a restart
with relax jobs queued; estimates from what each model measured."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import FastTimeUsedUp, QueueFull, UserError
from core.fast_time import DEFAULT_SECONDS_PER_UNIT, Rates, work_of
from core.model import JobParams, Requester
from engine.scheduler import fair_order
from tests.core.commits import ALICE, BOB, finished
from tests.gates import held_worker

ADMIN = Requester(user_id=303, guild_id=1, channel_id=10, is_admin=True)
ELSEWHERE = dataclasses.replace(ALICE, guild_id=2)


async def spend(service, who: Requester, seconds: float) -> None:
    """``who`` has spent ``seconds`` of fast time today here (one measured job)."""
    job = await finished(service, (await service.jobs.imagine(who, "a kite --steps 2")).id)
    await service.storage.add_gpu_seconds(job.id, seconds)


async def test_past_its_fast_time_a_job_runs_in_relax_and_says_so(make_services):
    service = await make_services(fast_minutes_daily=1)
    await spend(service, ALICE, 61)  # over one minute
    moved = await service.jobs.imagine(ALICE, "a fox --steps 2")
    assert (moved.mode, moved.moved) == ("relax", True)
    assert moved.gpu_estimate is not None and moved.gpu_estimate > 0
    fast = await service.jobs.imagine(BOB, "an owl --steps 2")  # Bob has his minute
    assert (fast.mode, fast.moved) == ("fast", False)
    # Relax jobs cost no fast time: the moved one ran, Alice's used time is unchanged.
    done = await finished(service, moved.id)
    assert done.mode == "relax" and done.gpu_seconds


async def test_with_relax_off_it_is_refused_saying_when_fast_time_renews(make_services):
    service = await make_services(fast_minutes_daily=1, relax=False)
    await spend(service, ALICE, 61)
    jobs = await service.storage.count_jobs()
    with pytest.raises(FastTimeUsedUp) as refused:
        await service.jobs.imagine(ALICE, "a fox --steps 2")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    assert refused.value.renews_at.date() == tomorrow and refused.value.renews_at.hour == 0
    assert refused.value.minutes == 1 and refused.value.used > 1
    assert "fast minutes" in refused.value.message and not refused.value.everywhere
    assert await service.storage.count_jobs() == jobs
    with pytest.raises(UserError, match="Relax mode is off"):
        await service.jobs.imagine(BOB, "an owl --steps 2 --relax")


async def test_relax_jobs_wait_behind_fast_ones_and_are_fair_among_themselves(make_services):
    service = await make_services()
    async with held_worker(service.engine):
        # The held worker takes the first job in hand (running): a fast one of a third member.
        blocker = await service.jobs.imagine(ADMIN, "a blocker --steps 2")
        relax = [
            await service.jobs.imagine(who, f"a relaxed fox {n} --steps 2 --relax")
            for n, who in enumerate((ALICE, ALICE, BOB))
        ]
        fast = await service.jobs.imagine(BOB, "a fast owl --steps 2")
        positions = {job.id: service.runner.position(job.id) for job in [*relax, fast]}
        # The fast job first; then relax, round-robin: Alice, Bob, Alice.
        assert positions == {fast.id: 1, relax[0].id: 2, relax[2].id: 3, relax[1].id: 4}
        assert service.runner.position(blocker.id) == 0  # running
    for job in [blocker, fast, *relax]:
        await finished(service, job.id)


def test_the_fair_order_puts_every_fast_job_first():
    @dataclasses.dataclass
    class Waiting:
        spec: object
        order: int

    def waiting(order: int, owner: int, relax: bool) -> Waiting:
        return Waiting(dataclasses.make_dataclass("S", ["owner", "relax"])(owner, relax), order)

    jobs = [waiting(0, 1, True), waiting(1, 1, True), waiting(2, 2, True), waiting(3, 3, False)]
    order = fair_order(jobs, {2: 5})  # owner 2 was served lately
    assert [job.order for job in order] == [3, 0, 2, 1]


async def test_a_member_has_at_most_max_relax_per_user_relax_jobs(make_services):
    service = await make_services(max_relax_per_user=2)
    async with held_worker(service.engine):
        for n in range(2):
            await service.jobs.imagine(ALICE, f"a fox {n} --steps 2 --relax")
        with pytest.raises(QueueFull, match="2 relax jobs"):
            await service.jobs.imagine(ALICE, "a third fox --steps 2 --relax")
        assert (await service.jobs.imagine(ALICE, "a fast fox --steps 2")).mode == "fast"


async def test_overrides_the_server_default_admins_and_the_limit_across_servers(make_services):
    service = await make_services(fast_minutes_daily=1, global_fast_minutes_daily=3)
    await spend(service, ALICE, 90)
    assert (await service.jobs.imagine(ALICE, "a fox --steps 2")).moved  # 1.5 of 1 minute
    await service.storage.set_fast_minutes(1, ALICE.user_id, 2.0)  # Alice's override
    assert not (await service.jobs.imagine(ALICE, "a fox --steps 2 --fast")).moved
    await service.storage.set_fast_minutes(1, None, 0.5)  # the server's default: Bob's
    await spend(service, BOB, 45)
    assert (await service.jobs.imagine(BOB, "an owl --steps 2")).moved
    assert not (await service.jobs.imagine(ADMIN, "a hen --steps 2")).moved  # no limit here
    # Across servers: 3 minutes in all; Alice has spent 1.5 here, 2 more elsewhere.
    await spend(service, ELSEWHERE, 120)
    assert (await service.jobs.imagine(ELSEWHERE, "a fox --steps 2")).moved
    await service.storage.set_fast_minutes(1, ALICE.user_id, 60.0)
    assert (await service.jobs.imagine(ALICE, "a fox --steps 2")).moved  # the global limit


async def test_the_settings_mode_and_a_flag(make_services):
    service = await make_services()
    async with held_worker(service.engine):
        await service.storage.set_user_settings(ALICE.user_id, {"mode": "relax"})
        assert (await service.jobs.imagine(ALICE, "a fox --steps 2")).mode == "relax"
        assert (await service.jobs.imagine(ALICE, "a fox --steps 2 --fast")).mode == "fast"
        with pytest.raises(UserError, match="not both"):
            await service.jobs.imagine(ALICE, "a fox --fast --relax")


async def test_relax_jobs_queued_at_a_stop_stay_relax_after_it(sd_model, tmp_path):
    """Queued at a stop (the engine never ran them), relax jobs are resumed at the next
    start behind the fast job queued with them, and run."""
    from core.services import open_services
    from engine import Engine
    from storage.db import Storage

    async with (
        Storage(tmp_path) as storage,
        Engine(sd_model) as engine,
        open_services(storage, engine) as service,
        held_worker(service.engine),
    ):
        blocker = await service.jobs.imagine(ADMIN, "a blocker --steps 2")
        relax = [
            await service.jobs.imagine(who, f"a fox {n} --steps 2 --relax")
            for n, who in enumerate((ALICE, BOB))
        ]
        fast = await service.jobs.imagine(ALICE, "a fast owl --steps 2")
        await service.runner.stop()  # a stop: every row stays queued
    async with (
        Storage(tmp_path) as storage,
        Engine(sd_model, max_batch_images=4) as engine,
        open_services(storage, engine) as service,
    ):
        rows = [await storage.get_job(job.id, scope=1) for job in relax]
        assert [row.mode for row in rows] == ["relax", "relax"]
        assert all(service.runner.spec_for(row).relax for row in rows)
        done = [await finished(service, job.id) for job in (blocker, fast, *relax)]
        assert [job.mode for job in done] == ["fast", "fast", "relax", "relax"]
        # The fast one ran before both relax ones, whatever order they were resumed in.
        assert done[1].started_at < min(job.started_at for job in done[2:])


def test_an_estimate_is_work_times_what_the_model_measured():
    params = JobParams(width=1000, height=1000, steps=10, guidance=5.0, num_images=4)
    rates = Rates()
    assert work_of(params) == 40 and rates.estimate(params) == 40 * DEFAULT_SECONDS_PER_UNIT
    rates.observe(params, 1.0, 20.0)  # measured 0.5 s per unit
    assert rates.estimate(params) == pytest.approx(20.0)
    rates.observe(params, 1.0, 40.0)  # a slower one moves it a fifth of the way
    assert rates.estimate(params) == pytest.approx(24.0)
    # Another shape of the model: the model's rate until that shape has run, then its own.
    small = dataclasses.replace(params, width=500, height=500)
    assert rates.estimate(small) == pytest.approx(10 * 0.6)
    rates.observe(small, 1.0, 1.0)  # 0.1 s a unit at this size
    assert rates.estimate(small) == pytest.approx(1.0)
    assert rates.estimate(params) == pytest.approx(24.0)  # its own shape's rate
    half = work_of(params, strength=0.5)
    assert half == 20 and work_of(dataclasses.replace(params, frames=121)) == 121 * 10


async def test_what_counts_against_fast_time(make_services):
    """A queued fast job's estimate counts until its measured seconds replace it; a relax
    job and a job cancelled before it ran count nothing."""
    service = await make_services()
    assert (await service.users.fast_time(ALICE)).used == 0
    async with held_worker(service.engine):
        await service.jobs.imagine(ADMIN, "a blocker --steps 2")  # in the worker's hand
        queued = await service.jobs.imagine(ALICE, "a fox --steps 2")
        relax = await service.jobs.imagine(ALICE, "a fox --steps 2 --relax")
        never = await service.jobs.imagine(ALICE, "an owl --steps 2")
        await service.runner.cancel(never, ALICE)
        waiting = await service.users.fast_time(ALICE)
        assert waiting.used == pytest.approx(queued.gpu_estimate)
    done = await finished(service, queued.id)
    await finished(service, relax.id)
    assert done.gpu_seconds and done.gpu_seconds != queued.gpu_estimate
    assert (await service.users.fast_time(ALICE)).used == pytest.approx(done.gpu_seconds)
    assert (await service.users.fast_time(ALICE)).left == pytest.approx(30 * 60 - done.gpu_seconds)

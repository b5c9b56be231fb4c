"""Every server an island (issue 9), in the service over real SQLite: jobs, queues, logs,
quotas and bans of one server are out of reach from another; the bot's owners reach all.

The engine is not started unless a test needs the worker: jobs then stay queued, and the
finished jobs that buttons act on are written straight into storage, images and all. A
test that needs a job held on the worker holds the worker itself (``held_worker``).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable

import pytest
from PIL import Image

from core.errors import (
    BadParameter,
    Banned,
    BlockedPrompt,
    NotAllowed,
    QuotaExceeded,
    UnknownJob,
    UserError,
)
from core.model import (
    ALL_SERVERS,
    Action,
    AuditRow,
    ImageRow,
    Job,
    JobEvent,
    JobParams,
    JobStatus,
    NewJob,
    Requester,
)
from core.recipes import Imagine
from core.services import Services
from core.sizes import size_for_aspect
from tests.gates import StepGate

A, B, C = 1, 2, 3  # C: a server the bot has no rows for yet
OWNER_ID = 900

ALICE = Requester(user_id=101, guild_id=A, channel_id=10)
ALICE_IN_B = Requester(user_id=101, guild_id=B, channel_id=20)
ALICE_IN_C = Requester(user_id=101, guild_id=C, channel_id=30)
CAROL = Requester(user_id=103, guild_id=A, channel_id=10)
BOB_B = Requester(user_id=202, guild_id=B, channel_id=20)
ADMIN_A = Requester(user_id=301, guild_id=A, channel_id=10, is_admin=True)
OTHER_ADMIN_A = Requester(user_id=311, guild_id=A, channel_id=10, is_admin=True)
ADMIN_B = Requester(user_id=302, guild_id=B, channel_id=20, is_admin=True)
OWNER_IN_B = Requester(user_id=OWNER_ID, guild_id=B, channel_id=20, is_admin=True, is_owner=True)

ALL_STATUSES = tuple(JobStatus)


@pytest.fixture
def make(make_services) -> Callable[..., Awaitable[Services]]:
    """``await make(**options)``: a service on a fresh DATA_DIR; ``started=True`` starts
    the engine's worker, otherwise jobs stay queued."""

    async def make_service(*, started: bool = False, **options) -> Services:
        limits = {
            "max_queued_per_user": 50,
            "max_queue": 100,
            "owner_ids": frozenset({OWNER_ID}),
            **options,
        }
        return await make_services(started=started, **limits)

    return make_service


@pytest.fixture
async def service(make) -> Services:
    return await make()


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "gray").save(buffer, format="PNG")
    return buffer.getvalue()


async def done_job(
    service: Services,
    who: Requester,
    prompt: str = "a fox",
    negative: str = "",
    *,
    size: tuple[int, int] = (128, 128),
) -> Job:
    """A finished imagine job of ``who`` with four images on disk, as the worker leaves it
    (the images themselves are small: the rows carry the sizes the service reads)."""
    storage = service.storage
    width, height = size
    params = JobParams(
        aspect="1:1",
        width=width,
        height=height,
        steps=2,
        guidance=7.0,
        num_images=4,
        model=service.engine.model.name,
    )
    job = await storage.create_job(
        NewJob(who.user_id, prompt, negative, 7, params, Imagine(), who.guild_id, who.channel_id)
    )
    rows = []
    for index in (1, 2, 3, 4):
        path = storage.image_path(job.id, index)
        storage.write_file(path, png(8, 8))
        rows.append(ImageRow(job.id, index, width, height, 6 + index))
    storage.write_file(storage.grid_path(job.id), png(16, 16))
    await storage.add_images(rows)
    await storage.mark_running(job.id)
    await storage.finish_job(job.id, JobStatus.DONE)
    return await service.runner.job(job.id)


async def log_of(service: Services, guild: int | None) -> list[AuditRow]:
    rows, _ = await service.storage.audit_page(guild, skip=0, limit=1000)
    return rows


async def state_of(service: Services, guild: int) -> tuple:
    """Everything a server has: its job rows, their images and files, its log."""
    jobs = await service.storage.jobs_with_status(*ALL_STATUSES, scope=guild)
    images = [await service.runner.images(job.id) for job in jobs]
    files = sorted(
        str(path.relative_to(service.storage.data_dir))
        for job in jobs
        for path in service.storage.job_dir(job.id).glob("*")
    )
    positions = {job.id: service.runner.position(job.id) for job in jobs}
    return jobs, images, files, positions, await log_of(service, guild)


async def assert_unknown(call: Awaitable, job_id: int) -> None:
    """Refused exactly like a job that does not exist."""
    with pytest.raises(UnknownJob) as caught:
        await call
    assert caught.value.message == f"There is no job {job_id}."


# --- isolation: server B cannot see or touch server A's jobs ---

FROM_B: dict[str, Callable[[Services, int], Awaitable]] = {
    "admin cancel": lambda s, job_id: s.moderation.admin_cancel(ADMIN_B, job_id),
    "admin purge": lambda s, job_id: s.moderation.purge(ADMIN_B, job_id),
    "Cancel by admin": lambda s, job_id: s.jobs.cancel(job_id, ADMIN_B),
    "Cancel by member": lambda s, job_id: s.jobs.cancel(job_id, BOB_B),
    "get_job": lambda s, job_id: s.jobs.get_job(job_id, ADMIN_B),
    **{
        f"{name} by {who_name}": (
            lambda s, job_id, action=action, index=index, who=who: s.jobs.press(
                who, action, job_id, index
            )
        )
        for name, action, index in (
            ("U", Action.UPSCALE, 1),
            ("V", Action.VARY_STRONG, 2),
            ("V subtle", Action.VARY_SUBTLE, 3),
            ("Upscale (Creative)", Action.UPSCALE_CREATIVE, 4),
            ("reroll", Action.REROLL, None),
        )
        for who_name, who in (("admin", ADMIN_B), ("member", BOB_B))
    },
}


@pytest.mark.parametrize("name", list(FROM_B))
@pytest.mark.parametrize("target", ["queued", "done"])
async def test_server_b_gets_no_job_for_server_as_jobs_and_changes_nothing(service, name, target):
    action = FROM_B[name]
    jobs = {
        "done": await done_job(service, ALICE),
        "queued": await service.jobs.imagine(ALICE, "a queued fox --steps 2"),
    }
    b_job = await service.jobs.imagine(BOB_B, "a fox in B --steps 2")
    job_id = jobs[target].id
    a_before = await state_of(service, A)
    b_before = await state_of(service, B)
    count = await service.storage.count_jobs()

    await assert_unknown(action(service, job_id), job_id)
    missing = b_job.id + 1000  # the answer is the same as for an id that does not exist
    await assert_unknown(action(service, missing), missing)

    assert await state_of(service, A) == a_before
    assert await state_of(service, B) == b_before  # no log row about it in B either
    assert await service.storage.count_jobs() == count
    assert service.runner.position(jobs["queued"].id) is not None  # still in the engine


async def test_queues_and_logs_are_per_server_and_owners_see_all(service):
    a_jobs = [(await service.jobs.imagine(ALICE, f"fox {i} --steps 2")).id for i in range(2)]
    b_job = (await service.jobs.imagine(BOB_B, "a fox in B --steps 2")).id
    assert [job.id for job, _ in await service.moderation.queue(ADMIN_A)] == a_jobs
    assert [job.id for job, _ in await service.moderation.queue(ADMIN_B)] == [b_job]
    assert sorted(job.id for job, _ in await service.moderation.queue(OWNER_IN_B)) == [
        *a_jobs,
        b_job,
    ]
    # Positions are the engine's, whichever server asks.
    for job, position in await service.moderation.queue(OWNER_IN_B):
        assert position == service.runner.position(job.id) is not None

    await service.moderation.banword(ADMIN_A, "add", "gore")
    await service.moderation.set_quota(ADMIN_A, 7)
    assert [row.action for row in (await service.moderation.audit(ADMIN_A))[0]] == [
        "quota",
        "banword_add",
    ]
    assert (await service.moderation.audit(ADMIN_B))[0] == []
    # Words are per server too.
    assert await service.moderation.banword(ADMIN_B, "list", None) == []
    with pytest.raises(BlockedPrompt):
        await service.jobs.imagine(ALICE, "gore --steps 2")
    await service.jobs.imagine(BOB_B, "gore --steps 2")


async def test_an_owner_acts_on_every_servers_jobs_and_the_rows_land_in_the_jobs_log(service):
    done = await done_job(service, ALICE)
    queued = await service.jobs.imagine(ALICE, "cancel me --steps 2")
    pressed = await service.jobs.imagine(ALICE, "press cancel --steps 2")
    assert (await service.jobs.get_job(done.id, OWNER_IN_B)).id == done.id

    child = await service.jobs.press(OWNER_IN_B, Action.UPSCALE, done.id, 1)
    assert (child.parent_id, child.user_id, child.guild_id) == (done.id, OWNER_ID, B)

    cancelled = await service.moderation.admin_cancel(OWNER_IN_B, queued.id)
    assert cancelled.status == "cancelled" and service.runner.position(queued.id) is None
    assert (await service.jobs.cancel(pressed.id, OWNER_IN_B)).status == "cancelled"

    purged = await service.moderation.purge(OWNER_IN_B, done.id)
    assert purged.purged_at is not None and await service.runner.images(done.id) == []
    assert not service.storage.job_dir(done.id).exists()

    a_log = [(row.action, row.target, row.actor_id) for row in await log_of(service, A)]
    assert a_log == [
        ("purge", f"job {done.id}", OWNER_ID),
        ("cancel", f"job {queued.id}", OWNER_ID),
    ]
    assert await log_of(service, B) == []


# --- quotas across servers ---


async def test_the_global_quota_counts_every_server_and_admins_too(make):
    service = await make(global_daily_quota=3, daily_quota=50)
    await service.jobs.imagine(ALICE, "one --steps 2")
    await service.jobs.imagine(ALICE, "two --steps 2")
    await service.jobs.imagine(ALICE_IN_B, "three --steps 2")
    for where in (ALICE, ALICE_IN_B, ALICE_IN_C):
        with pytest.raises(QuotaExceeded) as caught:
            await service.jobs.imagine(where, "four --steps 2")
        error = caught.value
        assert error.everywhere and (error.limit, error.used) == (3, 3)
        assert "3 jobs for today across all servers" in error.message
    status = await service.users.quota(ALICE_IN_B)
    assert (status.used, status.left) == (1, 49)  # this server's own quota
    assert (status.global_limit, status.global_used, status.global_left) == (3, 3, 0)
    assert await service.storage.count_jobs() == 3

    # An admin of both servers has no per-server limit, but the global one holds.
    admin_a = Requester(user_id=400, guild_id=A, channel_id=10, is_admin=True)
    admin_b = Requester(user_id=400, guild_id=B, channel_id=20, is_admin=True)
    assert (await service.users.quota(admin_a)).limit is None
    for who in (admin_a, admin_a, admin_b):
        await service.jobs.imagine(who, "admin --steps 2")
    for who in (admin_a, admin_b):
        with pytest.raises(QuotaExceeded, match="across all servers"):
            await service.jobs.imagine(who, "one more --steps 2")

    # The bot's owners are not counted.
    owner_a = Requester(user_id=OWNER_ID, guild_id=A, is_admin=True, is_owner=True)
    for who in (owner_a, OWNER_IN_B, owner_a, OWNER_IN_B, owner_a):
        await service.jobs.imagine(who, "owner --steps 2")
    status = await service.users.quota(OWNER_IN_B)
    assert (status.limit, status.global_limit, status.global_left) == (None, None, None)
    assert await service.storage.count_jobs() == 3 + 3 + 5


async def test_a_burst_across_servers_starts_only_the_global_quota(make):
    service = await make(global_daily_quota=3)
    burst = [ALICE, ALICE_IN_B, ALICE_IN_C] * 4
    results = await asyncio.gather(
        *(service.jobs.imagine(who, f"burst {i} --steps 2") for i, who in enumerate(burst)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == len(burst) - 3
    assert all(isinstance(r, QuotaExceeded) and r.everywhere for r in refused), refused
    assert await service.storage.count_jobs() == 3


async def test_a_global_quota_of_zero_is_off(make):
    service = await make(global_daily_quota=0, daily_quota=2)
    for who in (ALICE, ALICE, ALICE_IN_B, ALICE_IN_B, ALICE_IN_C):
        await service.jobs.imagine(who, "a fox --steps 2")
    status = await service.users.quota(ALICE_IN_C)
    assert (status.used, status.global_limit, status.global_left) == (1, None, None)
    with pytest.raises(QuotaExceeded) as caught:  # the server's own quota still holds
        await service.jobs.imagine(ALICE, "a fox --steps 2")
    assert not caught.value.everywhere


# --- bans ---


async def test_only_owners_ban_everywhere_and_it_holds_in_every_server(service):
    in_a = await service.jobs.imagine(ALICE, "in A --steps 2")
    in_b = await service.jobs.imagine(ALICE_IN_B, "in B --steps 2")
    done = await done_job(service, ALICE_IN_B)
    await service.users.update_settings(ALICE, steps=5)

    with pytest.raises(NotAllowed, match="owners"):
        await service.moderation.ban(ADMIN_B, ALICE.user_id, "abuse", everywhere=True)
    assert await service.storage.ban_reason(C, ALICE.user_id) is None
    assert (
        service.runner.position(in_a.id) is not None
        and service.runner.position(in_b.id) is not None
    )
    with pytest.raises(NotAllowed, match="can't be banned"):
        await service.moderation.ban(ADMIN_A, OWNER_ID, "rogue owner")
    assert await service.storage.ban_reason(A, OWNER_ID) is None

    cancelled = await service.moderation.ban(OWNER_IN_B, ALICE.user_id, "abuse", everywhere=True)
    assert sorted(cancelled) == [in_a.id, in_b.id]
    for job in (in_a, in_b):
        assert (await service.runner.job(job.id)).status == "cancelled"
    assert ("ban", str(ALICE.user_id)) in [(r.action, r.target) for r in await log_of(service, B)]

    refusals = [
        lambda who: service.jobs.imagine(who, "a fox --steps 2"),
        lambda who: service.jobs.press(who, Action.UPSCALE, done.id, 1),
        lambda who: service.users.user_settings(who),
        lambda who: service.users.update_settings(who, steps=9),
        lambda who: service.users.info(who),
        lambda who: service.users.history(who),
    ]
    for where in (ALICE, ALICE_IN_B, ALICE_IN_C):  # C: a server with no rows yet
        for refused in refusals:
            with pytest.raises(Banned, match=r"in every server\. Reason: abuse"):
                await refused(where)
    assert await service.storage.user_settings(ALICE.user_id) == {"steps": 5}

    # A server admin lifts only their own server's ban: the one everywhere stays.
    assert await service.moderation.unban(ADMIN_B, ALICE.user_id) == (False, True)
    await service.moderation.ban(ADMIN_B, ALICE.user_id, "local")
    assert await service.moderation.unban(ADMIN_B, ALICE.user_id) == (True, True)
    with pytest.raises(Banned, match="in every server"):
        await service.jobs.imagine(ALICE_IN_B, "a fox --steps 2")
    assert await service.storage.ban_reason(None, ALICE.user_id) == ("abuse", True)

    assert await service.moderation.unban(OWNER_IN_B, ALICE.user_id) == (True, False)
    assert await service.storage.ban_reason(C, ALICE.user_id) is None
    assert not await service.storage.unban(ALL_SERVERS, ALICE.user_id)  # the row is gone
    await service.jobs.imagine(ALICE_IN_C, "welcome back --steps 2")


async def test_a_ban_cancels_the_running_job_before_it_is_posted(make):
    gate = StepGate(at_step=1)  # the job runs, held at the end of its first step
    service = await make(started=True, gate=gate)
    events: list[JobEvent] = []
    service.runner.add_listener(lambda event: _append(events, event))
    try:
        job = await service.jobs.imagine(ALICE, "a fox --steps 2")
        await gate.wait_reached()
        assert service.runner.position(job.id) == 0
        assert (await service.runner.job(job.id)).status == "running"
        queued = await service.jobs.imagine(ALICE, "waiting --steps 2")
        elsewhere = await service.jobs.imagine(ALICE_IN_B, "in B --steps 2")

        cancelled = await service.moderation.ban(ADMIN_A, ALICE.user_id, "spam")

        assert sorted(cancelled) == [job.id, queued.id]
        row = await service.runner.job(job.id)
        assert row.status == "cancelled" and row.started_at is not None
        assert (await service.runner.job(queued.id)).status == "cancelled"
        assert service.runner.position(queued.id) is None
        assert service.runner.position(elsewhere.id) is not None  # the ban is A's only
        assert (await service.jobs.cancel(elsewhere.id, ALICE_IN_B)).status == "cancelled"
    finally:
        gate.open()
    # The held call now goes on to its next step, where it stops: nothing is stored.
    await service.engine.run_on_worker(lambda: None)
    assert (await service.runner.job(job.id)).status == "cancelled"
    assert service.runner.position(job.id) is None
    assert (
        await service.runner.images(job.id) == [] and not service.storage.job_dir(job.id).exists()
    )
    finished = [e.job.status for e in events if e.kind == "finished" and e.job.id == job.id]
    assert finished == ["cancelled"]


async def test_a_banned_admin_is_refused_every_admin_command_and_cannot_unban_self(service):
    done = await done_job(service, ALICE)
    queued = await service.jobs.imagine(ALICE, "a fox --steps 2")
    await service.moderation.ban(ADMIN_A, OTHER_ADMIN_A.user_id, "rogue")
    log = await log_of(service, A)
    commands = [
        lambda: service.moderation.unban(OTHER_ADMIN_A, OTHER_ADMIN_A.user_id),
        lambda: service.moderation.ban(OTHER_ADMIN_A, ADMIN_A.user_id, "revenge"),
        lambda: service.moderation.set_quota(OTHER_ADMIN_A, 0),
        lambda: service.moderation.banword(OTHER_ADMIN_A, "add", "fox"),
        lambda: service.moderation.banword(OTHER_ADMIN_A, "list", None),
        lambda: service.moderation.queue(OTHER_ADMIN_A),
        lambda: service.moderation.admin_cancel(OTHER_ADMIN_A, queued.id),
        lambda: service.moderation.purge(OTHER_ADMIN_A, done.id),
        lambda: service.moderation.audit(OTHER_ADMIN_A),
        lambda: service.jobs.cancel(queued.id, OTHER_ADMIN_A),
    ]
    for command in commands:
        with pytest.raises(Banned, match="Reason: rogue"):
            await command()
    assert await service.storage.ban_reason(A, OTHER_ADMIN_A.user_id) == ("rogue", False)
    assert await service.storage.ban_reason(A, ADMIN_A.user_id) is None
    assert (await service.runner.job(queued.id)).status == "queued"
    assert (await service.runner.job(done.id)).purged_at is None
    assert await service.storage.blocked_words(A) == []
    assert await log_of(service, A) == log
    assert await service.moderation.unban(ADMIN_A, OTHER_ADMIN_A.user_id) == (True, False)
    assert [job.id for job, _ in await service.moderation.queue(OTHER_ADMIN_A)] == [queued.id]


async def test_settings_are_refused_to_a_banned_user(service):
    await service.users.update_settings(ALICE, steps=5, negative="blurry")
    await service.moderation.ban(ADMIN_A, ALICE.user_id, "spam")
    with pytest.raises(Banned, match=r"in this server\. Reason: spam"):
        await service.users.user_settings(ALICE)
    for change in ({"steps": 9}, {"negative": "people"}, {"reset": True}):
        with pytest.raises(Banned):
            await service.users.update_settings(ALICE, **change)
    assert await service.storage.user_settings(ALICE.user_id) == {
        "steps": 5,
        "negative": "blurry",
    }
    # Not banned in B: /settings works there.
    assert await service.users.user_settings(ALICE_IN_B) == {"steps": 5, "negative": "blurry"}


# --- blocked words: entries, the cap, where the word was, the order of the checks ---


async def test_a_server_blocks_at_most_max_blocked_words(make):
    service = await make(max_blocked_words=3)
    for word in ("one", "two", "three"):
        assert await service.moderation.banword(ADMIN_A, "add", word)
    with pytest.raises(BadParameter, match="already blocks 3 words") as caught:
        await service.moderation.banword(ADMIN_A, "add", "four")
    assert caught.value.parameter == "word"
    assert await service.moderation.banword(ADMIN_A, "list", None) == ["one", "two", "three"]
    assert await service.moderation.banword(ADMIN_B, "add", "four")  # the cap is per server
    assert await service.moderation.banword(ADMIN_A, "remove", "two")
    assert await service.moderation.banword(ADMIN_A, "add", "four")
    assert await service.moderation.banword(ADMIN_A, "list", None) == ["one", "three", "four"]


@pytest.mark.parametrize("entry", ["123", "!!!", "4 2", "--", "1080*", "$$$"])
async def test_an_entry_without_a_letter_or_emoji_is_refused(service, entry):
    with pytest.raises(BadParameter, match="needs a letter or an emoji") as caught:
        await service.moderation.banword(ADMIN_A, "add", entry)
    assert caught.value.parameter == "word"
    assert await service.storage.blocked_words(A) == []
    assert await log_of(service, A) == []


async def test_letters_and_emoji_entries_are_kept(service):
    for entry in ("🍆", "r34", "Gore", "nud*"):
        assert await service.moderation.banword(ADMIN_A, "add", entry)
    assert await service.moderation.banword(ADMIN_A, "list", None) == ["🍆", "r34", "gore", "nud*"]


async def test_the_refusal_says_where_the_blocked_word_was(service):
    by_prompt = await done_job(service, CAROL, "a gore scene")
    by_negative = await done_job(service, CAROL, "a fox", "gore")
    await service.users.update_settings(ALICE, negative="gore")
    await service.moderation.banword(ADMIN_A, "add", "gore")
    count = await service.storage.count_jobs()

    expected = {
        "a fox --steps 2": (
            "Your saved negative prompt (from `/settings`)",
            "/settings reset:True",
        ),
        "a gore fox --steps 2": ("Your prompt contains", "Change it"),
        "a fox --steps 2 --no gore": ("Your `--no` text contains", "Change it"),
    }
    for prompt, fragments in expected.items():
        with pytest.raises(BlockedPrompt) as caught:
            await service.jobs.imagine(ALICE, prompt)
        assert all(fragment in caught.value.message for fragment in fragments), prompt
        assert "gore" not in caught.value.message
    with pytest.raises(BlockedPrompt, match=f"The prompt of job {by_prompt.id} contains"):
        await service.jobs.press(CAROL, Action.REROLL, by_prompt.id, None)
    with pytest.raises(BlockedPrompt, match=f"negative prompt of job {by_negative.id} contains"):
        await service.jobs.press(CAROL, Action.UPSCALE, by_negative.id, 1)
    assert await service.storage.count_jobs() == count

    # The prompt's own --no wins over the saved one; in B nothing is blocked.
    assert (await service.jobs.imagine(ALICE, "a fox --steps 2 --no cars")).negative == "cars"
    assert (await service.jobs.imagine(ALICE_IN_B, "a fox --steps 2")).negative == "gore"


async def test_cheap_checks_come_before_the_word_filter(service):
    await service.moderation.banword(ADMIN_A, "add", "gore")
    await service.moderation.set_quota(ADMIN_A, 0, ALICE.user_id)
    with pytest.raises(QuotaExceeded):
        await service.jobs.imagine(ALICE, "gore --steps 2")
    await service.moderation.ban(ADMIN_A, CAROL.user_id)
    with pytest.raises(Banned):
        await service.jobs.imagine(CAROL, "gore --steps 2")
    assert "blocked_prompt" not in [row.action for row in await log_of(service, A)]


# --- U<n> is capped by MAX_UPSCALE_SIDE like Upscale (Creative) ---


@pytest.mark.parametrize("action", [Action.UPSCALE, Action.UPSCALE_CREATIVE])
async def test_upscales_of_a_wide_image_stop_at_max_upscale_side(make, action):
    service = await make(max_upscale_side=2048)
    wide = await done_job(service, ALICE, size=(1536, 384))  # 4:1, twice would be 3072 px
    child = await service.jobs.press(ALICE, action, wide.id, 1)
    assert (child.params.width, child.params.height) == (2048, 512)
    assert child.params.num_images == 1

    # SDXL at --ar 4:1 already makes 2048x512: no upscale can be bigger.
    sdxl = await done_job(service, ALICE, size=size_for_aspect(4, 1, 1024))
    count = await service.storage.count_jobs()
    with pytest.raises(UserError, match="already 2048x512, at the largest size"):
        await service.jobs.press(ALICE, action, sdxl.id, 2)
    assert await service.storage.count_jobs() == count


async def test_a_small_image_is_still_upscaled_twice(service):
    parent = await done_job(service, ALICE, size=(192, 128))
    child = await service.jobs.press(ALICE, Action.UPSCALE, parent.id, 3)
    assert (child.params.width, child.params.height) == (384, 256)


async def _append(events: list[JobEvent], event: JobEvent) -> None:
    events.append(event)

"""Moderation in the service: bans, blocked words, admin-only actions and the audit log."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import BadParameter, Banned, BlockedPrompt, NotAllowed, UnknownJob, UserError
from core.model import Action, Requester
from core.services import Services
from tests.gates import held_worker

GUILD = 1
ALICE = Requester(user_id=101, guild_id=GUILD, channel_id=10)
BOB = Requester(user_id=202, guild_id=GUILD, channel_id=10)
ADMIN = Requester(user_id=303, guild_id=GUILD, channel_id=10, is_admin=True)
ALICE_ELSEWHERE = Requester(user_id=101, guild_id=2, channel_id=20)


@pytest.fixture
async def service(make_services):
    return await make_services(max_queued_per_user=20, max_queue=50)


async def audit_actions(service: Services) -> list[tuple[str, str]]:
    rows, _, _ = await service.moderation.audit(ADMIN, 1)
    return [(row.action, row.target) for row in rows]


@pytest.mark.parametrize(
    "action",
    [
        lambda s, who: s.moderation.ban(who, BOB.user_id, "spam"),
        lambda s, who: s.moderation.unban(who, BOB.user_id),
        lambda s, who: s.moderation.set_quota(who, 3),
        lambda s, who: s.moderation.banword(who, "add", "gore"),
        lambda s, who: s.moderation.banword(who, "list", None),
        lambda s, who: s.moderation.queue(who),
        lambda s, who: s.moderation.admin_cancel(who, 1),
        lambda s, who: s.moderation.audit(who, 1),
    ],
)
async def test_every_admin_action_refuses_members(service, action):
    with pytest.raises(NotAllowed, match="admins"):
        await action(service, ALICE)
    assert await service.storage.ban_reason(GUILD, BOB.user_id) is None


async def test_a_ban_cancels_queued_jobs_and_refuses_commands_and_buttons(service):
    done = await service.runner.wait((await service.jobs.imagine(ALICE, "a fox --steps 2")).id)
    async with held_worker(service.engine):  # Bob's job holds the worker: Alice's wait
        slow = await service.jobs.imagine(BOB, "keep the worker busy --steps 2")
        queued = [await service.jobs.imagine(ALICE, f"queued {i} --steps 2") for i in range(2)]
        elsewhere = await service.jobs.imagine(ALICE_ELSEWHERE, "in another server --steps 2")
        cancelled = await service.moderation.ban(ADMIN, ALICE.user_id, "spamming")
    assert sorted(cancelled) == [job.id for job in queued]
    for job in queued:
        assert (await service.jobs.get_job(job.id, ADMIN)).status == "cancelled"
    with pytest.raises(Banned, match="Reason: spamming"):
        await service.jobs.imagine(ALICE, "another fox")
    with pytest.raises(Banned):
        await service.jobs.press(ALICE, Action.UPSCALE, done.id, 1)
    with pytest.raises(Banned):
        await service.users.info(ALICE)
    with pytest.raises(Banned):
        await service.users.history(ALICE)
    # Bans are per server.
    assert (await service.runner.wait(elsewhere.id)).status == "done"
    await service.jobs.imagine(ALICE_ELSEWHERE, "still fine there --steps 2")
    assert await service.moderation.unban(ADMIN, ALICE.user_id) == (True, False)
    await service.jobs.imagine(ALICE, "welcome back --steps 2")
    assert (await service.runner.wait(slow.id)).status == "done"
    assert ("ban", str(ALICE.user_id)) in await audit_actions(service)
    assert ("unban", str(ALICE.user_id)) in await audit_actions(service)


async def test_blocked_words_stop_prompts_negatives_and_buttons(service):
    parent = await service.runner.wait(
        (await service.jobs.imagine(ALICE, "a red fox --steps 2")).id
    )
    assert await service.moderation.banword(ADMIN, "add", "  Red   Fox ")
    assert not await service.moderation.banword(ADMIN, "add", "red fox")  # already there
    assert await service.moderation.banword(ADMIN, "add", "gore")
    assert await service.moderation.banword(ADMIN, "list", None) == ["red fox", "gore"]
    before = await service.storage.count_jobs()
    # (not GÖRE: "göre" is an ordinary Turkish word, never read as "gore")
    for prompt in ("a g.o.r.e scene", "a fox --no GÔRE", "a RED   fox"):
        with pytest.raises(BlockedPrompt) as caught:
            await service.jobs.imagine(ALICE, prompt)
        assert "gore" not in caught.value.message.lower()
    with pytest.raises(BlockedPrompt):  # a button reuses the parent's prompt: checked too
        await service.jobs.press(BOB, Action.REROLL, parent.id, None)
    # A remix form's text is the user's own, checked like a new prompt, and said so.
    with pytest.raises(BlockedPrompt, match="Your prompt contains"):
        await service.jobs.press(BOB, Action.REROLL, parent.id, None, remix="a gore fox")
    with pytest.raises(BlockedPrompt, match="Your `--no` text"):
        await service.jobs.press(BOB, Action.REROLL, parent.id, None, remix="a cat --no gore")
    assert await service.storage.count_jobs() == before
    # Each member's refusals are counted in one row an hour (two, should the hour turn).
    for member in (ALICE, BOB):
        counts = await blocked_counts(service, member.user_id)
        assert sum(counts) == 3 and len(counts) <= 2, counts
    assert await service.moderation.banword(ADMIN, "remove", "red fox")
    await service.jobs.press(BOB, Action.REROLL, parent.id, None)
    with pytest.raises(BadParameter, match="needs a `word`"):
        await service.moderation.banword(ADMIN, "add", " ")


async def blocked_counts(service: Services, user_id: int) -> list[int]:
    """The counts in a member's blocked-prompt audit rows ("3 blocked prompts this hour")."""
    rows, _, _ = await service.moderation.audit(ADMIN, 1)
    mine = [r for r in rows if (r.action, r.target) == ("blocked_prompt", str(user_id))]
    return [int(row.details.split(" blocked prompt")[0]) for row in mine]


async def test_adds_at_the_same_moment_never_pass_the_word_limit(make_services):
    service = await make_services(started=False, max_blocked_words=10)
    adds = (service.moderation.banword(ADMIN, "add", f"word{i}") for i in range(40))
    results = await asyncio.gather(*adds, return_exceptions=True)
    refused = [r for r in results if isinstance(r, BadParameter)]
    assert results.count(True) == 10 and len(refused) == 30, results
    assert all("already blocks 10 words" in r.message for r in refused)
    assert len(await service.moderation.banword(ADMIN, "list", None)) == 10
    assert await service.storage.count_blocked_words(GUILD) == 10


async def test_quota_queue_cancel_and_audit_paging(service):
    await service.moderation.set_quota(ADMIN, 0, ALICE.user_id)
    assert (await service.users.quota(ALICE)).limit == 0
    await service.moderation.set_quota(ADMIN, 7)
    assert (await service.users.quota(BOB)).limit == 7
    with pytest.raises(BadParameter):
        await service.moderation.set_quota(ADMIN, -1)
    async with held_worker(service.engine):
        slow = await service.jobs.imagine(BOB, "slow --steps 2")
        waiting = await service.jobs.imagine(BOB, "waiting --steps 3")
        listed = await service.moderation.queue(ADMIN)
        assert [job.id for job, _ in listed][:2] == [slow.id, waiting.id]
        assert (await service.moderation.admin_cancel(ADMIN, waiting.id)).status == "cancelled"
    for i in range(12):
        await service.moderation.banword(ADMIN, "add", f"word{i}")
    rows, page, pages = await service.moderation.audit(ADMIN, 2)
    assert (page, pages) == (2, 2) and len(rows) == 5  # 15 rows: 10 + 5
    with pytest.raises(BadParameter, match="past the end"):
        await service.moderation.audit(ADMIN, 3)
    await service.runner.wait(slow.id)


async def test_purge_removes_files_and_rows_and_buttons_say_so(service):
    job = await service.runner.wait((await service.jobs.imagine(ALICE, "purge me --steps 2")).id)
    directory = service.storage.job_dir(job.id)
    names = sorted(path.name for path in directory.iterdir())
    assert names == ["1.png", "2.png", "3.png", "4.png", "grid.png", "thumb.webp"]
    async with held_worker(service.engine):
        running = await service.jobs.imagine(BOB, "still running --steps 2")
        with pytest.raises(NotAllowed):
            await service.moderation.purge(ALICE, job.id)
        purged = await service.moderation.purge(ADMIN, job.id)
        assert purged.purged_at is not None and purged.status == "done"
        assert not directory.exists() and await service.runner.images(job.id) == []
        for action, index in ((Action.UPSCALE, 1), (Action.VARY_STRONG, 2), (Action.REROLL, None)):
            with pytest.raises(UnknownJob, match="removed by an admin"):
                await service.jobs.press(BOB, action, job.id, index)
        with pytest.raises(UserError, match="cancel it first"):
            await service.moderation.purge(ADMIN, running.id)
    assert ("purge", f"job {job.id}") in await audit_actions(service)
    await service.runner.wait(running.id)

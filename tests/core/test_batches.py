"""One admission batch, one transaction; a row the database will not take fails only its
own request. And text that could not be stored is refused before it gets that far."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import BadParameter
from core.model import JobParams, NewJob, Requester
from core.recipes import Imagine
from core.services import Services
from tests.core.commits import waiting_to_commit

GUILD = 1
ALICE = Requester(user_id=101, guild_id=GUILD, channel_id=10)
BOB = Requester(user_id=202, guild_id=GUILD, channel_id=10)
CAROL = Requester(user_id=303, guild_id=GUILD, channel_id=10)
ADMIN = Requester(user_id=404, guild_id=GUILD, channel_id=10, is_admin=True)


@pytest.fixture
async def service(make_services):
    # Never started: admission is all these tests are about.
    return await make_services(started=False, max_queued_per_user=20, max_queue=50)


def _new(service: Services, who: Requester, prompt: str) -> NewJob:
    params = JobParams(
        aspect="1:1",
        width=64,
        height=64,
        steps=2,
        guidance=7.0,
        num_images=4,
        model=service.engine.model.name,
    )
    return NewJob(who.user_id, prompt, "", 7, params, Imagine(), GUILD, who.channel_id)


async def test_a_row_the_database_refuses_fails_only_its_own_request(service):
    # Past the parser (as a bug elsewhere could let it), a lone surrogate cannot be
    # encoded for SQLite: the batch's one transaction fails, then each request alone.
    admission = service.admission
    requests = [
        (ALICE, [_new(service, ALICE, "a fox")]),
        (BOB, [_new(service, BOB, "a bad \ud800 fox")]),
        (CAROL, [_new(service, CAROL, "an owl"), _new(service, CAROL, "an owl")]),
    ]
    async with admission.lock:  # held, as a ban holds it, until all three wait together
        tasks = [
            asyncio.create_task(admission.admit_all(who, news, checked=True))
            for who, news in requests
        ]
        await waiting_to_commit(service, len(requests))
    alice, bob, carol = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(bob, UnicodeEncodeError), bob
    assert [job.prompt for job in alice] == ["a fox"]
    assert [job.prompt for job in carol] == ["an owl", "an owl"]
    assert await service.storage.count_jobs() == 3
    positions = service.runner.positions()
    assert all(job.id in positions for job in [*alice, *carol]), "handed to the engine"
    # The next batch commits as one again.
    assert (await admission.admit(ALICE, _new(service, ALICE, "later"), checked=True)).id


async def test_texts_that_cannot_be_stored_are_refused_before_admission(service):
    refusals = [
        service.jobs.imagine_all(ALICE, "a fox \ud800 --steps 2"),
        service.jobs.imagine_all(ALICE, "a fox --no people\x00 --steps 2"),
        service.users.update_settings(ALICE, negative="blurry \udc00"),
        service.moderation.ban(ADMIN, BOB.user_id, "spam \ud800"),
        service.jobs.custom_zoom(ALICE, 1, 1, "a fox", "1.5\ud800"),
    ]
    for refusal in refusals:
        with pytest.raises(BadParameter, match="contains a character I can't store"):
            await refusal
    [parent] = await service.jobs.imagine_all(ALICE, "a fox --steps 2")
    with pytest.raises(BadParameter, match=r"U\+D83D"):
        service.jobs.edit(parent, "a remixed fox \ud83d --steps 2")  # every form's text
    assert await service.storage.count_jobs() == 1
    assert await service.storage.user_settings(ALICE.user_id) == {}
    assert await service.storage.ban_reason(GUILD, BOB.user_id) is None

"""A result is posted once: by editing the interaction's response while its token lives,
with the payload's images and buttons, and marked delivered only then; a second delivery
of the same job (the finished event and the pending list both bring it) does nothing."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.discord_app.delivery import JobMessages
from bot.discord_app.text import result_text
from core.model import EVERYWHERE, Requester
from tests.bot.discord_app.offline import Interaction, Message, make_bot

ALICE = Requester(user_id=42, guild_id=1, channel_id=10)


@pytest.fixture
async def services(make_services):
    return await make_services()


async def test_a_result_edits_the_response_once_and_is_marked_delivered(services) -> None:
    bot = make_bot(services)
    messages = JobMessages(bot)
    interaction = Interaction(bot)
    job = await services.jobs.imagine(ALICE, "a fox --steps 2")
    await messages.track(job, interaction)  # the waiting message, the interaction's answer
    done = await services.runner.wait(job.id)
    assert (await services.runner.undelivered()) == [done]
    await messages.deliver(done)
    await messages.deliver(done)  # once: the other caller finds it delivered
    (edit,) = interaction.edits
    assert edit["content"] == result_text(done)
    (image,) = edit["attachments"]
    assert image.filename == f"job-{job.id}.png"
    assert edit["view"].children[0].custom_id == f"u:{job.id}:1"
    row = await services.storage.get_job(job.id, scope=EVERYWHERE)
    assert (row.channel_id, row.message_id) == (10, 900) and row.delivered_at is not None
    assert await services.runner.undelivered() == []
    await messages.close()


class HeldChannel:
    """A channel whose posts are answered at once and whose edits, once ``editing`` is
    set, wait for ``release``."""

    def __init__(self, channel_id: int) -> None:
        self.id = channel_id
        self.posts: list[dict] = []
        self.edits: list[tuple[int, dict]] = []
        self.editing = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, **options) -> Message:
        self.posts.append(options)
        return Message(id=901, channel=self)

    def get_partial_message(self, message_id: int) -> SimpleNamespace:
        async def edit(**options) -> None:
            self.editing.set()
            await self.release.wait()
            self.edits.append((message_id, options))

        return SimpleNamespace(edit=edit)


async def test_a_result_posted_in_the_channel_is_delivered_before_its_old_message_changes(
    services, monkeypatch
) -> None:
    """After a restart (no token), the result is posted in the channel and the old waiting
    message is edited to point to it. The job is marked delivered as soon as Discord has the
    post: a stop while that edit waits (on the channel's rate limit, say) never posts the
    result a second time."""
    bot = make_bot(services)
    channel = HeldChannel(10)
    monkeypatch.setattr(bot, "get_channel", lambda channel_id: channel)

    async def ready() -> None:
        return None

    monkeypatch.setattr(bot, "wait_until_ready", ready)
    messages = JobMessages(bot)
    job = await services.jobs.imagine(ALICE, "a fox --steps 2")
    await services.runner.record_message(job.id, 10, 900)  # its waiting message, from before
    done = await services.runner.wait(job.id)
    delivery = asyncio.create_task(messages.deliver(done))
    await asyncio.wait_for(channel.editing.wait(), timeout=30)  # the edit, held
    row = await services.storage.get_job(job.id, scope=EVERYWHERE)
    assert row.delivered_at is not None, "marked delivered while the old message's edit waits"
    assert not delivery.done()
    assert len(channel.posts) == 1 and channel.edits == []
    assert await services.runner.undelivered() == []
    channel.release.set()
    await delivery
    [(edited, options)] = channel.edits
    assert edited == 900 and options["view"] is None
    row = await services.storage.get_job(job.id, scope=EVERYWHERE)
    assert row.message_id == 901
    await messages.close()

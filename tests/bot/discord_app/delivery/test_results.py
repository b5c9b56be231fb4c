"""A result is posted once: by editing the interaction's response while its token lives,
with the payload's images and buttons, and marked delivered only then; a second delivery
of the same job (the finished event and the pending list both bring it) does nothing."""

from __future__ import annotations

import pytest

from bot.discord_app.delivery import JobMessages
from bot.discord_app.text import result_text
from core.model import EVERYWHERE, Requester
from tests.bot.discord_app.offline import Interaction, make_bot

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

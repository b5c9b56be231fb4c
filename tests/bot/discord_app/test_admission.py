"""Admit first, then answer once: an admitted job's waiting message is the answer; a
refusal is raised for the error path with nothing answered; an admission still running
at the deadline is held privately, then the user gets a private note."""

from __future__ import annotations

import pytest

from bot.discord_app.admission import admit_and_answer
from bot.discord_app.text import waiting_text
from core.errors import Banned
from core.model import Requester
from tests.bot.discord_app.offline import Interaction, make_bot

ALICE = Requester(user_id=42, guild_id=1)  # no channel: nothing is posted in one


@pytest.fixture
async def bot(make_services):
    return make_bot(await make_services(started=False))  # jobs stay queued


async def test_an_admitted_job_is_answered_with_its_waiting_message(bot) -> None:
    interaction = Interaction(bot)
    admitted = []

    async def admit():
        admitted.append(await bot.services.jobs.imagine(ALICE, "a fox --steps 2"))
        return admitted[0]

    await admit_and_answer(interaction, admit)  # type: ignore[arg-type]
    ((content, options),) = interaction.response.sent
    job = admitted[0]
    assert content == waiting_text(job, 1)  # first in the queue
    (cancel,) = options["view"].children
    assert cancel.custom_id == f"x:{job.id}:0"
    assert interaction.followup.sent == []


async def test_a_refusal_is_raised_with_nothing_answered(bot) -> None:
    interaction = Interaction(bot)

    async def refuse():
        raise Banned("You are banned here.")

    with pytest.raises(Banned):
        await admit_and_answer(interaction, refuse)  # type: ignore[arg-type]
    assert not interaction.response.is_done()


async def test_a_slow_admission_is_held_privately_then_noted_privately(bot) -> None:
    bot.answer_deadline = 0.01  # the bot's own setting: held at once
    interaction = Interaction(bot)
    admitted = []

    async def admit():
        # Decided only once the interaction is held: a gate, not a duration.
        await interaction.response.on_defer.wait()
        admitted.append(await bot.services.jobs.imagine(ALICE, "a fox --steps 2"))
        return admitted

    await admit_and_answer(interaction, admit)  # type: ignore[arg-type]
    assert interaction.response.deferred == {"ephemeral": True, "thinking": True}
    assert interaction.response.sent == []
    (job,) = admitted
    assert interaction.followup.sent == [
        (
            f"Job {job.id} is queued; its result will be posted in this channel.",
            {"ephemeral": True},
        )
    ]

"""The waiting message: the interaction's one answer (position and Cancel), then edited
by the refresher with the percent done while the job runs, then the result."""

from __future__ import annotations

import asyncio

from bot.discord_app.delivery import JobMessages
from bot.discord_app.text import waiting_text
from core.model import Requester
from tests.bot.discord_app.offline import Interaction, make_bot
from tests.gates import StepGate

ALICE = Requester(user_id=42, guild_id=1, channel_id=10)
DEADLINE = 60.0


async def edit_saying(interaction: Interaction, text: str) -> dict:
    """The first edit of the response whose content has ``text`` (waits for it)."""

    async def seen() -> dict:
        while True:
            for edit in interaction.edits:
                if text in edit.get("content", ""):
                    return edit
            interaction.edited.clear()
            await interaction.edited.wait()

    return await asyncio.wait_for(seen(), DEADLINE)


async def test_the_answer_shows_the_place_then_the_percent_while_running(make_services) -> None:
    gate = StepGate(at_step=2)
    services = await make_services(gate=gate)
    bot = make_bot(services)
    messages = JobMessages(bot, refresh_seconds=0.05)  # the refresh period, a constructor seam
    services.runner.add_listener(messages.on_event)
    messages.start()
    interaction = Interaction(bot)
    job = await services.jobs.imagine(ALICE, "a fox --steps 3")
    await messages.track(job, interaction)
    ((content, options),) = interaction.response.sent
    assert content in {waiting_text(job, 0), waiting_text(job, 1)}
    assert options["view"].children[0].custom_id == f"x:{job.id}:0"
    await gate.wait_reached()  # running, held after its first step
    edit = await edit_saying(interaction, "running: 33%")
    assert edit["view"].children[0].custom_id == f"x:{job.id}:0"  # Cancel while it runs
    gate.open()
    await services.runner.wait(job.id)
    await edit_saying(interaction, f"job {job.id} · seed")  # the result replaced it
    await messages.close()

"""/imagine and the buttons under its results (U, V, 🔄, Vary, Upscale, Cancel)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord_app.admission import admit_and_answer
from bot.discord_app.buttons import JobButton
from bot.discord_app.context import requester

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

PROMPT_HELP = "What to draw, then parameters: --ar 3:2 --seed 7 --no people --tile --repeat 2"


@app_commands.command(name="imagine")
@app_commands.describe(prompt=PROMPT_HELP)
@app_commands.guild_only()
async def imagine(interaction: discord.Interaction[ImagineBot], prompt: str) -> None:
    """Create four images from a prompt."""
    # Admitted first (checked, row committed), then answered once: the job's own message,
    # or an ephemeral refusal that nobody else sees.
    who = requester(interaction)
    await admit_and_answer(
        interaction, lambda: interaction.client.services.jobs.imagine_all(who, prompt)
    )


def setup(bot: ImagineBot) -> None:
    """Add /imagine and the job buttons (rebuilt from their ids after a restart too)."""
    bot.tree.add_command(imagine)
    bot.add_dynamic_items(JobButton)

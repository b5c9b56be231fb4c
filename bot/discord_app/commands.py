"""Slash commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord_app.buttons import requester

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

PROMPT_HELP = "What to draw, then parameters: --ar 3:2 --seed 7 --no people --steps 30 --cfg 7"


@app_commands.command(name="imagine")
@app_commands.describe(prompt=PROMPT_HELP)
@app_commands.guild_only()
async def imagine(interaction: discord.Interaction[ImagineBot], prompt: str) -> None:
    """Create four images from a prompt."""
    bot = interaction.client
    # Bad parameters are answered before anything public appears (pure and fast).
    bot.service.check_prompt(prompt)
    await interaction.response.defer(thinking=True)
    job = await bot.service.imagine(requester(interaction), prompt)
    await bot.job_messages.track(job, interaction)


def register_commands(tree: app_commands.CommandTree) -> None:
    """Add every slash command to the tree."""
    tree.add_command(imagine)

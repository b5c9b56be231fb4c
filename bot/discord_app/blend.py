"""/blend: two to five uploaded images merged into a grid of four, with no text."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord_app.admission import admit_and_answer
from bot.discord_app.context import requester
from bot.discord_app.imagine import download
from core.model import Job

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

_IMAGE_HELP = "PNG, JPEG or WebP, up to 10 MB"


@app_commands.command(name="blend")
@app_commands.describe(
    image1=_IMAGE_HELP,
    image2=_IMAGE_HELP,
    image3=_IMAGE_HELP,
    image4=_IMAGE_HELP,
    image5=_IMAGE_HELP,
    dimensions="The grid's shape: portrait 2:3, square 1:1 (the default) or landscape 3:2",
)
@app_commands.choices(
    dimensions=[
        app_commands.Choice(name="portrait 2:3", value="portrait"),
        app_commands.Choice(name="square 1:1", value="square"),
        app_commands.Choice(name="landscape 3:2", value="landscape"),
    ]
)
@app_commands.guild_only()
async def blend(
    interaction: discord.Interaction[ImagineBot],
    image1: discord.Attachment,
    image2: discord.Attachment,
    image3: discord.Attachment | None = None,
    image4: discord.Attachment | None = None,
    image5: discord.Attachment | None = None,
    dimensions: str = "square",
) -> None:
    """Merge two to five images into four new ones."""
    bot = interaction.client
    who = requester(interaction)
    attachments = [a for a in (image1, image2, image3, image4, image5) if a is not None]
    # Downloaded only once the ban, quota and queue checks have passed.
    fetches = [functools.partial(download, bot, attachment) for attachment in attachments]

    async def admit() -> Job:
        return await bot.services.blends.blend(who, fetches, dimensions)

    await admit_and_answer(interaction, admit)


def setup(bot: ImagineBot) -> None:
    """Add /blend (its grid's buttons are the job buttons)."""
    bot.tree.add_command(blend)

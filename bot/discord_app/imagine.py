"""/imagine and the buttons under its results (U, V, 🔄, Vary, Upscale, Cancel)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord import app_commands

from bot.discord_app.admission import admit_and_answer
from bot.discord_app.buttons import JobButton
from bot.discord_app.context import requester
from bot.media import read_image
from core.errors import BadImage
from core.image_prompt import MAX_IMAGE_BYTES, too_big
from core.model import Job

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

PROMPT_HELP = "What to draw, then parameters: --ar 3:2 --seed 7 --no people --tile --repeat 2"


IMAGE_HELP = "An image to start from: PNG, JPEG or WebP, up to 10 MB (--iw 0-2: how closely)"


@app_commands.command(name="imagine")
@app_commands.describe(prompt=PROMPT_HELP, image=IMAGE_HELP)
@app_commands.guild_only()
async def imagine(
    interaction: discord.Interaction[ImagineBot],
    prompt: str,
    image: discord.Attachment | None = None,
) -> None:
    """Create four images from a prompt (and an image)."""
    # Admitted first (the prompt parsed; ban, quota and queue checked; only then the image
    # downloaded and checked; rows committed), then answered once: the job's own message,
    # or an ephemeral refusal that nobody else sees.
    who = requester(interaction)
    bot = interaction.client

    fetch = None if image is None else functools.partial(download, bot, image)

    async def admit() -> list[Job]:
        return await bot.services.jobs.imagine_all(who, prompt, fetch)

    await admit_and_answer(interaction, admit)


async def download(bot: ImagineBot, attachment: discord.Attachment) -> bytes:
    """The attachment's bytes, through the bot's own HTTP session: refused (``BadImage``)
    past ``MAX_IMAGE_BYTES`` before reading (the size Discord reports, then what
    arrives), past the bot's ``download_timeout``, or when the CDN does not serve it."""
    if attachment.size > MAX_IMAGE_BYTES:
        raise BadImage(too_big(attachment.size))
    timeout = aiohttp.ClientTimeout(total=bot.download_timeout)
    try:
        async with bot.http_session.get(attachment.url, timeout=timeout) as response:
            return await read_image(response, "Discord", "Attach it again.")
    except TimeoutError:
        raise BadImage(
            "Downloading the image took too long. Try again, or attach a smaller one."
        ) from None
    except aiohttp.ClientError:
        raise BadImage("I could not download the image. Attach it again.") from None


def setup(bot: ImagineBot) -> None:
    """Add /imagine and the job buttons (rebuilt from their ids after a restart too)."""
    bot.tree.add_command(imagine)
    bot.add_dynamic_items(JobButton)

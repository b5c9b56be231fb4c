"""/describe, the Describe message menu and the buttons under their answer.

The answer is public, like /imagine's, so that anyone may press its buttons: the image
and its four prompts, numbered, with ``1`` ``2`` ``3`` ``4`` (that prompt as /imagine, for
whoever presses, through admission), ``Imagine all`` and ``🔄`` (four new ones, the same
message edited). Everything is checked before the answer (a ban, the image, the model's
texts against the server's blocked words): a refusal is only ever seen by the member.
Describing takes the model a moment; past ``ANSWER_DEADLINE`` the interaction is held
privately and the answer posted in the channel, as /imagine does.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord_app.admission import admit_and_answer, answer_deadline
from bot.discord_app.context import requester
from bot.discord_app.custom_ids import DESCRIBE_BUTTON, MAX_ID, DescribeChoice
from bot.discord_app.imagine import download
from bot.discord_app.items import IdButton
from bot.discord_app.nsfw import filter_in
from bot.discord_app.sending import SEND_ERRORS
from bot.discord_app.text import MAX_CONTENT, safe_prompt
from core.describe import Described, prompt_text
from core.errors import UnknownJob, UserError
from core.model import Description

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

logger = logging.getLogger(__name__)

IMAGE_NAME = "described.png"
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
_NO_IMAGE = "This message has no image to describe (PNG, JPEG or WebP attached to it)."


class DescribeButton(IdButton[DescribeChoice], custom_id=DESCRIBE_BUTTON):
    """``1``-``4``, ``Imagine all`` and ``🔄`` under a description (after restarts too)."""

    async def run(self, interaction: discord.Interaction[ImagineBot]) -> None:  # type: ignore[override]
        """Run the chosen prompt(s) as /imagine for the presser, or describe again."""
        bot = interaction.client
        who = requester(interaction)
        value = self.value
        if not 0 < value.description <= MAX_ID:
            raise UnknownJob("This description is not known here.")
        descriptions = bot.services.descriptions
        if value.choice == "r":
            described = await _within_deadline(
                interaction, lambda: descriptions.again(who, value.description)
            )
            await _answer(interaction, described, edit=True)
            return
        number = None if value.choice == "a" else int(value.choice)

        async def admit() -> list:
            await bot.services.admission.check_not_banned(who)
            description = await descriptions.get(who, value.description)
            return await bot.services.jobs.imagine_all(who, prompt_text(description, number))

        await admit_and_answer(interaction, admit)


@app_commands.command(name="describe")
@app_commands.describe(
    image="An image to describe: PNG, JPEG or WebP, up to 10 MB",
    job="Or an image of a job here, as ID:N (image N of job ID, as /history shows it)",
)
@app_commands.guild_only()
async def describe(
    interaction: discord.Interaction[ImagineBot],
    image: discord.Attachment | None = None,
    job: str | None = None,
) -> None:
    """Four prompts to start from, made from an image."""
    bot = interaction.client
    who = requester(interaction)
    fetch = None if image is None else functools.partial(download, bot, image)
    described = await _within_deadline(
        interaction, lambda: bot.services.descriptions.describe(who, fetch, job)
    )
    await _answer(interaction, described)


@app_commands.context_menu(name="Describe")
@app_commands.guild_only()
async def describe_message(
    interaction: discord.Interaction[ImagineBot], message: discord.Message
) -> None:
    """As /describe, on the first image of a message (the bot's own grids too)."""
    bot = interaction.client
    who = requester(interaction)
    attachment = next((a for a in message.attachments if _is_image(a)), None)
    if attachment is None:
        raise UserError(_NO_IMAGE)
    fetch = functools.partial(download, bot, attachment)
    described = await _within_deadline(
        interaction, lambda: bot.services.descriptions.describe(who, fetch)
    )
    await _answer(interaction, described)


def _is_image(attachment: discord.Attachment) -> bool:
    """An attachment that may be an image we read (its content is checked after)."""
    kind = (attachment.content_type or "").split(";")[0].strip().lower()
    if kind:
        return kind in _IMAGE_TYPES
    return attachment.filename.lower().endswith((".png", ".jpg", ".jpeg", ".webp"))


async def _within_deadline(
    interaction: discord.Interaction[ImagineBot], work: Callable[[], Awaitable[Described]]
) -> Described:
    """Run ``work``; past the answer deadline, hold the interaction privately (a refusal
    then stays private; the answer is posted in the channel by ``_answer``)."""
    task = asyncio.ensure_future(work())
    done, _ = await asyncio.wait({task}, timeout=answer_deadline(interaction))
    if task not in done:
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
        except SEND_ERRORS as exc:
            logger.warning("interaction %s: could not hold it: %s", interaction.id, exc)
    return await task


async def _answer(
    interaction: discord.Interaction[ImagineBot], described: Described, *, edit: bool = False
) -> None:
    """The public answer: the image, the prompts and the buttons (🔄 edits it)."""
    view = answer_view(described.description)
    # A flagged image is blurred (a spoiler) or grey outside NSFW channels, as a grid is,
    # and the prompts written from it are spoilers.
    mode = filter_in(interaction.client, interaction.channel_id)
    png = await asyncio.to_thread(described.shown_png, mode)
    hidden = described.hidden_in(mode)
    file = discord.File(io.BytesIO(png), filename=IMAGE_NAME, spoiler=hidden and mode == "blur")
    content = answer_text(described, hidden=hidden)
    if not interaction.response.is_done():
        if edit:
            await interaction.response.edit_message(content=content, view=view, attachments=[file])
        else:
            await interaction.response.send_message(content, view=view, file=file)
        return
    # Held privately: the answer goes to the channel, the member gets a note that links it.
    channel = interaction.channel
    message = None
    try:
        if edit and interaction.message is not None:
            message = await interaction.message.edit(content=content, view=view, attachments=[file])
        elif channel is not None and hasattr(channel, "send"):
            message = await channel.send(content, view=view, file=file)
    except SEND_ERRORS as exc:
        logger.warning("interaction %s: could not post the description: %r", interaction.id, exc)
    note = f"Described: {message.jump_url}" if message else content
    await interaction.followup.send(note, ephemeral=True)


def answer_text(described: Described, *, hidden: bool = False) -> str:
    """The numbered prompts (shown as plain text: no markdown, links or mentions); as
    spoilers when the image is ``hidden`` by the NSFW filter."""
    description = described.description
    lines = [f"<@{description.user_id}> · description {description.id}"]
    room = (MAX_CONTENT - 200) // max(1, len(description.prompts))
    for number, prompt in enumerate(description.prompts, start=1):
        shown = safe_prompt(prompt, room - 4)
        lines.append(f"**{number}.** " + (f"||{shown}||" if hidden else shown))
    if described.withheld:
        lines.append(f"{described.withheld} more prompt(s) held back by this server's filter.")
    return "\n".join(lines)[:MAX_CONTENT]


def answer_view(description: Description) -> discord.ui.View:
    """``1``-``4`` (as many as there are prompts), ``Imagine all`` and ``🔄``."""
    view = discord.ui.View(timeout=None)
    for number in range(1, len(description.prompts) + 1):
        value = DescribeChoice(description.id, str(number))
        view.add_item(DescribeButton(value, label=str(number), row=0))
    all_label = "Imagine all"
    view.add_item(DescribeButton(DescribeChoice(description.id, "a"), label=all_label, row=1))
    view.add_item(DescribeButton(DescribeChoice(description.id, "r"), label="🔄", row=1))
    return view


def setup(bot: ImagineBot) -> None:
    """Add /describe, the Describe menu and the buttons of their answers."""
    bot.tree.add_command(describe)
    bot.tree.add_command(describe_message)
    bot.add_dynamic_items(DescribeButton)

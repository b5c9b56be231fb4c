"""/history: a member's jobs, 10 a page, each with its thumbnail, Previous and Next.

The page is a Components V2 message (``LayoutView``): a section per job, its line of
text beside the thumbnail of its grid (``attachment://job-<id>.webp``, one of the
page's attachments), then the buttons. Thumbnails are made once per job (``core.outputs``),
never on a page view; a job without images (queued, failed, purged) is a line alone.
Outside NSFW channels a job's flagged images are blurred (the thumbnail a spoiler) or
grey in it, as in its message."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord_app.context import requester
from bot.discord_app.custom_ids import HISTORY_PAGE, Page, user_id
from bot.discord_app.items import IdButton, previous_next
from bot.discord_app.nsfw import filter_in
from bot.discord_app.text import safe_prompt
from core.model import HistoryPage, Job
from core.outputs import Thumbnail

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

_PROMPT_IN_LINE = 60
_EXPIRED = "This page has expired: run /history again."


class HistoryButton(IdButton[Page], custom_id=HISTORY_PAGE):
    """Previous/Next on a /history page; the target user and page travel in the id."""

    async def run(self, interaction: discord.Interaction[ImagineBot]) -> None:  # type: ignore[override]
        """Show that page (the admin check runs again for someone else's history)."""
        users = interaction.client.services.users
        whose = user_id(self.value.user, _EXPIRED)
        page = await users.history(requester(interaction), self.value.page, user_id=whose)
        mode = filter_in(interaction.client, interaction.channel_id)
        thumbnails = await users.thumbnails(page, mode)
        await interaction.response.edit_message(
            view=page_view(page, thumbnails), attachments=_files(thumbnails)
        )


def _thumbnail_name(job_id: int) -> str:
    return f"job-{job_id}.webp"


def _files(thumbnails: dict[int, Thumbnail]) -> list[discord.File]:
    return [
        discord.File(thumb.path, filename=_thumbnail_name(job_id))
        for job_id, thumb in thumbnails.items()
    ]


def page_view(page: HistoryPage, thumbnails: dict[int, Thumbnail]) -> discord.ui.LayoutView:
    """The page: its heading, a section per job (its line beside its thumbnail), and
    Previous / Next, disabled at the ends."""
    view = discord.ui.LayoutView(timeout=None)
    if not page.jobs:
        view.add_item(discord.ui.TextDisplay(f"<@{page.user_id}> has no jobs here yet."))
    else:
        heading = f"Jobs of <@{page.user_id}>, newest first (page {page.page} of {page.pages}):"
        view.add_item(discord.ui.TextDisplay(heading))
    for job in page.jobs:
        line = discord.ui.TextDisplay(job_line(job))
        if job.id in thumbnails:
            picture = discord.ui.Thumbnail(
                f"attachment://{_thumbnail_name(job.id)}",
                description=f"job {job.id}",
                spoiler=thumbnails[job.id].blurred,  # flagged images, blurred
            )
            view.add_item(discord.ui.Section(line, accessory=picture))
        else:
            view.add_item(line)
    buttons = discord.ui.ActionRow()
    to_page = functools.partial(Page, user=page.user_id)
    for button in previous_next(HistoryButton, to_page, page.page, page.pages):
        buttons.add_item(button)
    view.add_item(buttons)
    return view


def job_line(job: Job) -> str:
    """A job on a page: id, kind, prompt, status, seed, when, and a jump link."""
    when = int(datetime.fromisoformat(job.created_at).timestamp())
    link = ""
    if job.message_id and job.channel_id and job.guild_id:
        link = (
            f" · [jump](https://discord.com/channels/"
            f"{job.guild_id}/{job.channel_id}/{job.message_id})"
        )
    return (
        f"`job {job.id}` {job.kind} · {safe_prompt(job.prompt, _PROMPT_IN_LINE)} · "
        f"{job.status} · seed {job.seed} · <t:{when}:R>{link}"
    )


@app_commands.command(name="history")
@app_commands.describe(page="Which page (10 jobs a page)", user="Admins: whose jobs to show")
@app_commands.guild_only()
async def history(
    interaction: discord.Interaction[ImagineBot],
    page: int = 1,
    user: discord.Member | None = None,
) -> None:
    """Your recent jobs, newest first, with links to their messages."""
    users = interaction.client.services.users
    result = await users.history(requester(interaction), page, user_id=user.id if user else None)
    # Ephemeral, yet shown in this channel: flagged images as the filter shows them here.
    mode = filter_in(interaction.client, interaction.channel_id)
    thumbnails = await users.thumbnails(result, mode)
    await interaction.response.send_message(
        view=page_view(result, thumbnails), files=_files(thumbnails), ephemeral=True
    )


def setup(bot: ImagineBot) -> None:
    """Add /history and its Previous/Next buttons."""
    bot.tree.add_command(history)
    bot.add_dynamic_items(HistoryButton)

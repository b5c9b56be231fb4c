"""/history: a member's jobs, 10 a page, with Previous and Next buttons."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.discord_app.context import requester
from bot.discord_app.errors import GuardedButton
from bot.discord_app.text import MAX_CONTENT, safe_prompt
from core.model import HistoryPage

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

_PROMPT_IN_LINE = 60


class HistoryButton(
    GuardedButton,
    template=r"^h:(?P<user>[0-9]{1,20}):(?P<page>[0-9]{1,6})$",
):
    """Previous/Next on a /history page; the target user and page travel in the id."""

    def __init__(self, user_id: int, page: int, *, label: str, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"h:{user_id}:{page}",
                disabled=disabled,
            )
        )
        self.user_id = user_id
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> HistoryButton:
        """Rebuild from the custom id."""
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(int(match["user"]), int(match["page"]), label=label or "Page")

    async def run(self, interaction: discord.Interaction[ImagineBot]) -> None:  # type: ignore[override]
        """Show that page (the admin check runs again for someone else's history)."""
        page = await interaction.client.services.users.history(
            requester(interaction), self.page, user_id=self.user_id
        )
        await interaction.response.edit_message(content=render_page(page), view=page_view(page))


def page_view(page: HistoryPage) -> discord.ui.View:
    """Previous / Next, disabled at the ends."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        HistoryButton(page.user_id, page.page - 1, label="Previous", disabled=page.page <= 1)
    )
    view.add_item(
        HistoryButton(page.user_id, page.page + 1, label="Next", disabled=page.page >= page.pages)
    )
    return view


def render_page(page: HistoryPage) -> str:
    """One line a job: id, kind, prompt, status, seed, when, and a jump link."""
    if not page.jobs:
        return f"<@{page.user_id}> has no jobs here yet."
    lines = [f"Jobs of <@{page.user_id}>, newest first (page {page.page} of {page.pages}):"]
    for job in page.jobs:
        when = int(datetime.fromisoformat(job.created_at).timestamp())
        link = ""
        if job.message_id and job.channel_id and job.guild_id:
            link = (
                f" · [jump](https://discord.com/channels/"
                f"{job.guild_id}/{job.channel_id}/{job.message_id})"
            )
        lines.append(
            f"`job {job.id}` {job.kind} · {safe_prompt(job.prompt, _PROMPT_IN_LINE)} · "
            f"{job.status} · seed {job.seed} · <t:{when}:R>{link}"
        )
    text = "\n".join(lines)
    return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1] + "…"


@app_commands.command(name="history")
@app_commands.describe(page="Which page (10 jobs a page)", user="Admins: whose jobs to show")
@app_commands.guild_only()
async def history(
    interaction: discord.Interaction[ImagineBot],
    page: int = 1,
    user: discord.Member | None = None,
) -> None:
    """Your recent jobs, newest first, with links to their messages."""
    result = await interaction.client.services.users.history(
        requester(interaction), page, user_id=user.id if user else None
    )
    await interaction.response.send_message(
        render_page(result), view=page_view(result), ephemeral=True
    )


def setup(bot: ImagineBot) -> None:
    """Add /history and its Previous/Next buttons."""
    bot.tree.add_command(history)
    bot.add_dynamic_items(HistoryButton)

"""/history: a member's jobs, 10 a page, with Previous and Next buttons."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_app.buttons import requester
from bot.discord_app.errors import reply_error
from bot.discord_app.render import MAX_CONTENT, safe_prompt
from core.service import HistoryPage

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

_PROMPT_IN_LINE = 60


class HistoryButton(
    discord.ui.DynamicItem[discord.ui.Button],
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

    async def callback(self, interaction: discord.Interaction[ImagineBot]) -> None:  # type: ignore[override]
        """Show that page (the admin check runs again for someone else's history)."""
        try:
            page = await interaction.client.service.history(
                requester(interaction), self.page, user_id=self.user_id
            )
            await interaction.response.edit_message(content=render_page(page), view=page_view(page))
        except Exception as error:
            await reply_error(interaction, error)


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

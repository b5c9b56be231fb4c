"""/admin: moderation from Discord. Registered for Manage Server by default, and every
command checks again at run time in the service (a server can re-grant commands, and a
stale client can send anything)."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from bot.discord_app.context import requester
from bot.discord_app.custom_ids import MAX_ID, WORD_PAGE, Page
from bot.discord_app.items import IdButton, previous_next
from bot.discord_app.text import MAX_CONTENT, safe_prompt
from core.errors import BadParameter
from core.stats import Stats, chart_png, figures_text

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot
    from core.moderation import Moderation


_JOB_ID = re.compile(r"(?:job\s*)?([0-9]{1,19})", re.ASCII | re.IGNORECASE)


def _moderation(interaction: discord.Interaction[ImagineBot]) -> Moderation:
    return interaction.client.services.moderation


def _job_id(text: str) -> int:
    """A job id typed in the ``job`` option: ASCII digits (``12`` or ``job 12``) within
    SQLite's integer range; anything else is a ``BadParameter`` naming the option."""
    match = _JOB_ID.fullmatch(text.strip())
    if match is None or int(match[1]) > MAX_ID:
        raise BadParameter(
            "job",
            f"{safe_prompt(text, 30)} is not a job id: the `job` option takes a job's number, "
            "like `12`.",
        )
    return int(match[1])


async def _answer(interaction: discord.Interaction[ImagineBot], text: str) -> None:
    await interaction.response.send_message(text[:2000], ephemeral=True)


# A page of blocked words leaves room for its heading within Discord's 2000 characters
# (counted in UTF-16 units, the stricter count: an emoji may be two).
_WORDS_ON_A_PAGE = MAX_CONTENT - 100
_WORD_SEPARATOR = " · "


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def word_pages(words: list[str]) -> list[str]:
    """The blocked words, escaped (shown as typed, nothing in them live) and whole, in
    pages that each fit a message; an empty list is one page, "none"."""
    pages: list[list[str]] = [[]]
    room = _WORDS_ON_A_PAGE
    for word in words:
        # Escaped text, not inline code: Discord shows escapes inside backticks as typed.
        shown = safe_prompt(word, MAX_CONTENT)
        size = _units(shown) + (_units(_WORD_SEPARATOR) if pages[-1] else 0)
        if pages[-1] and size > room:
            pages.append([])
            size, room = _units(shown), _WORDS_ON_A_PAGE
        pages[-1].append(shown)
        room -= size
    return [_WORD_SEPARATOR.join(page) or "none" for page in pages]


def word_page(words: list[str], page: int) -> tuple[str, discord.ui.View | None]:
    """Page ``page`` of the blocked words (the last one when the list has shrunk since),
    with Previous / Next when there is more than one."""
    pages = word_pages(words)
    page = min(max(page, 1), len(pages))
    if len(pages) == 1:
        return f"Blocked here: {pages[0]}", None
    heading = f"Blocked here ({len(words)}, page {page} of {len(pages)}):"
    view = discord.ui.View(timeout=None)
    for button in previous_next(WordPageButton, Page, page, len(pages)):
        view.add_item(button)
    return f"{heading}\n{pages[page - 1]}", view


class WordPageButton(IdButton[Page], custom_id=WORD_PAGE):
    """Previous/Next on the /admin banword list; the server is the one it is pressed in,
    and the admin check runs again."""

    async def run(self, interaction: discord.Interaction[ImagineBot]) -> None:  # type: ignore[override]
        """Show that page of the list as it is now."""
        words = await _moderation(interaction).banword(requester(interaction), "list", None)
        content, view = word_page(words, self.value.page)  # type: ignore[arg-type]
        await interaction.response.edit_message(content=content, view=view)


class AdminCommands(
    app_commands.Group,
    name="admin",
    description="Moderate the image bot in this server",
    default_permissions=discord.Permissions(manage_guild=True),
    guild_only=True,
):
    """The /admin group."""

    @app_commands.command(name="ban")
    @app_commands.describe(
        user="Who may no longer start jobs or press buttons",
        reason="Why",
        scope="server (default), or everywhere: every server (the bot's owners only)",
    )
    async def ban(
        self,
        interaction: discord.Interaction[ImagineBot],
        user: discord.User,
        reason: str | None = None,
        scope: Literal["server", "everywhere"] = "server",
    ) -> None:
        """Stop a user from using the bot; their queued and running jobs are cancelled."""
        everywhere = scope == "everywhere"
        cancelled = await _moderation(interaction).ban(
            requester(interaction), user.id, reason or "", everywhere=everywhere
        )
        note = f" Cancelled their jobs: {', '.join(map(str, cancelled))}." if cancelled else ""
        where = "in every server" if everywhere else "here"
        await _answer(interaction, f"{user.mention} is banned {where}.{note}")

    @app_commands.command(name="unban")
    @app_commands.describe(user="Whose ban to lift")
    async def unban(self, interaction: discord.Interaction[ImagineBot], user: discord.User) -> None:
        """Lift a ban."""
        lifted, still = await _moderation(interaction).unban(requester(interaction), user.id)
        text = (
            f"{user.mention} is no longer banned here."
            if lifted
            else f"{user.mention} was not banned here."
        )
        if still:
            text += " They are still banned in every server by the bot's owners."
        await _answer(interaction, text)

    @app_commands.command(name="quota")
    @app_commands.describe(
        daily="Jobs per UTC day (0: none)",
        minutes="Fast GPU-minutes per UTC day (0: relax only)",
        user="Whose limit (default: the server's)",
    )
    async def quota(
        self,
        interaction: discord.Interaction[ImagineBot],
        daily: int | None = None,
        minutes: int | None = None,
        user: discord.User | None = None,
    ) -> None:
        """Set a user's daily limits (jobs, fast minutes), or the server's defaults."""
        await _moderation(interaction).set_quota(
            requester(interaction), daily, user.id if user else None, minutes
        )
        whose = f"{user.mention}'s" if user else "The server's default"
        said = [f"{daily} jobs" if daily is not None else "", ""]
        if minutes is not None:
            said[1] = f"{minutes} fast minutes"
        limits = " and ".join(part for part in said if part)
        await _answer(interaction, f"{whose} daily limit is now {limits}.")

    @app_commands.command(name="banword")
    @app_commands.describe(action="add, remove or list", word="A word or phrase")
    async def banword(
        self,
        interaction: discord.Interaction[ImagineBot],
        action: Literal["add", "remove", "list"],
        word: str | None = None,
    ) -> None:
        """Manage the server's blocked words and phrases."""
        result = await _moderation(interaction).banword(requester(interaction), action, word)
        if action == "list":
            content, view = word_page(result, 1)  # type: ignore[arg-type]
            if view is None:
                await interaction.response.send_message(content, ephemeral=True)
            else:
                await interaction.response.send_message(content, view=view, ephemeral=True)
            return
        done = {"add": "blocked", "remove": "unblocked"}[action]
        await _answer(
            interaction,
            f"{safe_prompt(word or '', 100)}: {done}." if result else "Nothing changed.",
        )

    @app_commands.command(name="queue")
    async def queue(self, interaction: discord.Interaction[ImagineBot]) -> None:
        """Every queued and running job: id, user, prompt, age."""
        jobs = await _moderation(interaction).queue(requester(interaction))
        if not jobs:
            await _answer(interaction, "The queue is empty.")
            return
        now = datetime.now(UTC)
        lines = []
        for job, position in jobs[:25]:
            age = int((now - datetime.fromisoformat(job.created_at)).total_seconds())
            state = "running" if position == 0 else f"#{position}" if position else job.status
            prompt = safe_prompt(job.prompt, 50)
            lines.append(f"`job {job.id}` {state} · <@{job.user_id}> · {prompt} · {age}s")
        more = f"\n…and {len(jobs) - 25} more" if len(jobs) > 25 else ""
        await _answer(interaction, "\n".join(lines) + more)

    @app_commands.command(name="cancel")
    @app_commands.describe(job="The job id")
    async def cancel(self, interaction: discord.Interaction[ImagineBot], job: str) -> None:
        """Cancel a queued or running job."""
        result = await _moderation(interaction).admin_cancel(requester(interaction), _job_id(job))
        await _answer(interaction, f"Job {result.id} is {result.status}.")

    @app_commands.command(name="purge")
    @app_commands.describe(job="The job id")
    async def purge(self, interaction: discord.Interaction[ImagineBot], job: str) -> None:
        """Delete a job's images from disk and its message from Discord."""
        bot = interaction.client
        purged = await _moderation(interaction).purge(requester(interaction), _job_id(job))
        removed_message = await bot.job_messages.delete_message(purged)
        where = " and its message" if removed_message else ""
        await _answer(interaction, f"Job {purged.id}: images{where} removed.")

    @app_commands.command(name="stats")
    @app_commands.describe(days="UTC days to look back, today included (default 7, at most 90)")
    async def stats(self, interaction: discord.Interaction[ImagineBot], days: int = 7) -> None:
        """GPU time by member and by day, jobs by kind and model, failures (owners: all)."""
        # Thinking first (privately): an owner's every-server sums read the whole span.
        await interaction.response.defer(ephemeral=True, thinking=True)
        stats = await _moderation(interaction).stats(requester(interaction), days)
        await send_stats(interaction, stats)

    @app_commands.command(name="audit")
    @app_commands.describe(page="Which page (10 rows a page)")
    async def audit(self, interaction: discord.Interaction[ImagineBot], page: int = 1) -> None:
        """The moderation log: who did what to whom, and when."""
        rows, page, pages = await _moderation(interaction).audit(requester(interaction), page)
        if not rows:
            await _answer(interaction, "The moderation log is empty.")
            return
        lines = [f"Moderation log, newest first (page {page} of {pages}):"]
        for row in rows:
            when = int(datetime.fromisoformat(row.created_at).timestamp())
            actor = f"<@{row.actor_id}>" if row.actor_id else "the bot"
            lines.append(
                f"<t:{when}:f> {actor} {row.action} {safe_prompt(row.target, 40)}"
                f"{' · ' + safe_prompt(row.details, 120) if row.details else ''}"
            )
        await _answer(interaction, "\n".join(lines))


def setup(bot: ImagineBot) -> None:
    """Add the /admin group and the pages of its word list."""
    bot.tree.add_command(AdminCommands())
    bot.add_dynamic_items(WordPageButton)


async def send_stats(interaction: discord.Interaction[ImagineBot], stats: Stats) -> None:
    """The chart (drawn on a thread: matplotlib loads on first use) and the figures,
    privately (after the command's deferred answer); members named as this server
    knows them."""
    names = {}
    for user, _, _ in stats.by_member:
        member = interaction.guild.get_member(user) if interaction.guild else None
        found = member or interaction.client.get_user(user)
        names[user] = found.display_name if found is not None else f"user {user}"
    png = await asyncio.to_thread(chart_png, stats, names)
    await interaction.followup.send(
        figures_text(stats),
        file=discord.File(io.BytesIO(png), "stats.png"),
        ephemeral=True,
        allowed_mentions=discord.AllowedMentions.none(),
    )

"""The one place where errors become replies: domain errors as ephemeral messages."""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from core.errors import FastTimeUsedUp, QuotaExceeded, UserError

logger = logging.getLogger(__name__)


class _Guarded:
    """A persistent item's callback whose errors become replies here, like the commands'."""

    async def callback(self, interaction: discord.Interaction) -> None:
        """Run the item; any error is answered by ``reply_error``."""
        try:
            await self.run(interaction)
        except Exception as error:
            await reply_error(interaction, error)

    async def run(self, interaction: discord.Interaction) -> None:
        """What the item does."""
        raise NotImplementedError


class GuardedButton(_Guarded, discord.ui.DynamicItem[discord.ui.Button], template=r"(?!)"):
    """A persistent button (the template of this base matches nothing; each button gives
    its own)."""


class GuardedSelect(_Guarded, discord.ui.DynamicItem[discord.ui.Select], template=r"(?!)"):
    """A persistent select menu."""


async def reply_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Tell the user what went wrong, ephemerally; log what is not their fault."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, QuotaExceeded) and error.limit > 0:
        # Discord shows the reset time in the reader's own time zone, counting down.
        reset = int(error.resets_at.timestamp())
        where = " across all servers" if error.everywhere else ""
        message = (
            f"You have used your {error.limit} jobs for today{where} ({error.used} used). "
            f"Your quota resets <t:{reset}:R> (<t:{reset}:t>)."
        )
        if error.cost > 1:
            left = max(0, error.limit - error.used)
            message = (
                f"A clip counts as {error.cost} jobs and you have {left} of your {error.limit} "
                f"left today{where}. Your quota resets <t:{reset}:R> (<t:{reset}:t>)."
            )
    elif isinstance(error, FastTimeUsedUp):
        renews = int(error.renews_at.timestamp())
        where = " across all servers" if error.everywhere else ""
        message = (
            f"You have used your {error.minutes:g} fast minutes for today{where} "
            f"({error.used:.1f} used), and relax mode is off on this bot. "
            f"Fast time renews <t:{renews}:R> (<t:{renews}:t>)."
        )
    elif isinstance(error, UserError):
        message = error.message
    elif isinstance(error, app_commands.CheckFailure):
        message = str(error) or "You can't use this here."
    elif interaction.client.is_closed():
        logger.info("interaction %s cut off by the shutdown: %r", interaction.id, error)
        return
    else:
        reference = secrets.token_hex(3)
        logger.error("interaction %s failed (ref %s)", interaction.id, reference, exc_info=error)
        message = f"Something went wrong on my side (ref `{reference}`). Please try again."
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(message, ephemeral=True)
            return
        # Answered already: the bot only ever defers privately (ephemeral "thinking…"),
        # and the first followup after a deferral takes its visibility, so this stays
        # private. Nothing here may defer publicly: a refusal would then be public.
        await interaction.followup.send(message, ephemeral=True)
    except discord.HTTPException:
        logger.warning("could not tell the user about an error in %s", interaction.id)

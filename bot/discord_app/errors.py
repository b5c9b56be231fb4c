"""The one place where errors become replies: domain errors as ephemeral messages."""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from bot.errors import QuotaExceeded, UserError

logger = logging.getLogger(__name__)


async def reply_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Tell the user what went wrong, ephemerally; log what is not their fault."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, QuotaExceeded) and error.limit > 0:
        # Discord shows the reset time in the reader's own time zone, counting down.
        reset = int(error.resets_at.timestamp())
        message = (
            f"You have used your {error.limit} jobs for today ({error.used} used). "
            f"Your quota resets <t:{reset}:R> (<t:{reset}:t>)."
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
        if interaction.response.type == discord.InteractionResponseType.deferred_channel_message:
            # The public "thinking…" message would become the error for everyone to read:
            # remove it and answer the user alone.
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                logger.debug("could not delete the deferred response of %s", interaction.id)
        await interaction.followup.send(message, ephemeral=True)
    except discord.HTTPException:
        logger.warning("could not tell the user about an error in %s", interaction.id)

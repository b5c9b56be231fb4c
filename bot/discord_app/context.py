"""Who asks, and where: the plain values the domain needs from an interaction.

An admin is one with Manage Server here, the ``ADMIN_ROLE_ID`` role, or in ``OWNER_IDS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.settings import Settings
from core.model import Requester

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot


def is_admin(interaction: discord.Interaction, settings: Settings) -> bool:
    """Checked at run time on every admin action (a stale client can send anything)."""
    if interaction.user.id in settings.owner_id_set:
        return True
    if interaction.guild_id is None:
        return False
    if interaction.permissions.manage_guild:
        return True
    roles = getattr(interaction.user, "roles", [])
    return settings.admin_role_id is not None and any(
        role.id == settings.admin_role_id for role in roles
    )


def requester(interaction: discord.Interaction[ImagineBot]) -> Requester:
    """The plain values the service needs: whether the caller is an admin here, and
    whether they are one of the bot's owners (``OWNER_IDS``, who act in every server)."""
    settings = interaction.client.settings
    return Requester(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        is_admin=is_admin(interaction, settings),
        is_owner=interaction.user.id in settings.owner_id_set,
    )

"""Who is an admin: Manage Server here, the ``ADMIN_ROLE_ID`` role, or ``OWNER_IDS``."""

from __future__ import annotations

import discord

from bot.settings import Settings


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

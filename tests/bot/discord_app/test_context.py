"""Who is an admin: Manage Server here, the ADMIN_ROLE_ID role, or OWNER_IDS."""

from __future__ import annotations

from types import SimpleNamespace

import discord
import pytest

from bot.discord_app.context import is_admin
from bot.settings import load_settings

ADMIN_ROLE, OTHER_ROLE, OWNER = 555, 556, 999


def interaction(user_id: int, *, manage_guild=False, roles=(), guild_id: int | None = 1):
    # The three things the rule reads from a discord.Interaction.
    return SimpleNamespace(
        user=SimpleNamespace(id=user_id, roles=[SimpleNamespace(id=r) for r in roles]),
        guild_id=guild_id,
        permissions=discord.Permissions(manage_guild=manage_guild),
    )


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (interaction(1), False),  # a plain member
        (interaction(1, roles=[OTHER_ROLE]), False),  # some other role
        (interaction(2, manage_guild=True), True),  # Manage Server here
        (interaction(3, roles=[ADMIN_ROLE]), True),  # the admin role
        (interaction(OWNER), True),  # OWNER_IDS, with no permission here
        (interaction(OWNER, guild_id=None), True),  # owners everywhere
        (interaction(2, manage_guild=True, guild_id=None), False),  # no server, no Manage Server
    ],
)
def test_permission_matrix(monkeypatch, who, expected):
    monkeypatch.setenv("OWNER_IDS", f"{OWNER}")
    monkeypatch.setenv("ADMIN_ROLE_ID", f"{ADMIN_ROLE}")
    assert is_admin(who, load_settings(_env_file=None)) is expected

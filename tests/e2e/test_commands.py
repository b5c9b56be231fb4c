"""Scenario 1: the command tree the bot syncs is the public surface of PRODUCT.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.e2e.fake_discord import (
    ATTACHMENT,
    BOOLEAN,
    INTEGER,
    MANAGE_GUILD,
    NUMBER,
    STRING,
    SUB_COMMAND,
    USER,
    FakeDiscord,
)


@dataclass(frozen=True)
class Opt:
    """An expected option: its type, whether it is required, and its choices if fixed."""

    type: int
    required: bool = False
    choices: frozenset[str] | None = None


Sub = dict[str, Opt]

# PRODUCT.md, "Slash commands": command -> options, or (for groups) subcommand -> options.
EXPECTED: dict[str, dict[str, Any]] = {
    "imagine": {"prompt": Opt(STRING, required=True), "image": Opt(ATTACHMENT)},
    "history": {"page": Opt(INTEGER), "user": Opt(USER)},
    "info": {},
    "settings": {
        "aspect": Opt(STRING),
        "steps": Opt(INTEGER),
        "cfg": Opt(NUMBER),
        "negative": Opt(STRING),
        "remix": Opt(BOOLEAN),
        # A choice of the models on offer: the shared bot's MODEL_ID alone is ``default``
        # (tests/e2e/test_models.py: two models).
        "model": Opt(STRING, choices=frozenset({"default"})),
        "mode": Opt(STRING, choices=frozenset({"fast", "relax"})),
        "reset": Opt(BOOLEAN),
    },
    "admin": {
        "ban": {
            "user": Opt(USER, required=True),
            "reason": Opt(STRING),
            "scope": Opt(STRING, choices=frozenset({"server", "everywhere"})),
        },
        "unban": {"user": Opt(USER, required=True)},
        "quota": {"daily": Opt(INTEGER), "minutes": Opt(INTEGER), "user": Opt(USER)},
        "banword": {
            "action": Opt(STRING, required=True, choices=frozenset({"add", "remove", "list"})),
            "word": Opt(STRING),
        },
        "queue": {},
        "cancel": {"job": Opt(STRING, required=True)},
        "purge": {"job": Opt(STRING, required=True)},
        "audit": {"page": Opt(INTEGER)},
        "stats": {"days": Opt(INTEGER)},
    },
    "describe": {"image": Opt(ATTACHMENT), "job": Opt(STRING)},
    "blend": {
        "image1": Opt(ATTACHMENT, required=True),
        "image2": Opt(ATTACHMENT, required=True),
        "image3": Opt(ATTACHMENT),
        "image4": Opt(ATTACHMENT),
        "image5": Opt(ATTACHMENT),
        "dimensions": Opt(STRING, choices=frozenset({"portrait", "square", "landscape"})),
    },
}
# Message context menus (Apps, on a message): PRODUCT.md's "message menu".
MESSAGE_MENUS = {"Describe"}
# Commands a Manage Server permission guards by default (``default_member_permissions``).
ADMIN_ONLY = {"admin"}
# What the bot must register by now; add each command here as its issue lands.
REGISTERED_NOW = {"imagine", "history", "info", "settings", "admin", "describe", "blend"}


def _shape(options: list[dict[str, Any]]) -> dict[str, Any]:
    shape: dict[str, Any] = {}
    for option in options:
        if option["type"] == SUB_COMMAND:
            shape[option["name"]] = _shape(option.get("options") or [])
        else:
            choices = option.get("choices")
            shape[option["name"]] = Opt(
                option["type"],
                bool(option.get("required")),
                frozenset(str(c["value"]) for c in choices) if choices else None,
            )
    return shape


def test_synced_commands_are_the_public_surface(fake_discord: FakeDiscord, bot_process) -> None:
    every = fake_discord.global_commands()
    menus = {c["name"]: c for c in every if c.get("type", 1) == 3}
    assert set(menus) == MESSAGE_MENUS
    for name, menu in menus.items():
        assert not menu.get("options") and menu.get("description", "") == "", name
        permissions = menu.get("default_member_permissions")
        assert permissions in (None, "0") or int(permissions) == 0, name
    synced = {c["name"]: c for c in every if c.get("type", 1) != 3}
    assert synced.keys() >= REGISTERED_NOW, f"missing commands: {REGISTERED_NOW - synced.keys()}"
    for name, command in synced.items():
        assert name in EXPECTED, f"/{name} is not a command of PRODUCT.md"
        assert command.get("type", 1) == 1, f"/{name} is not a slash command"
        assert command["description"], f"/{name} has no description"
        assert _shape(command.get("options") or []) == EXPECTED[name], f"/{name} options"
        permissions = command.get("default_member_permissions")
        if name in ADMIN_ONLY:
            assert permissions is not None and int(permissions) == MANAGE_GUILD, name
        else:
            assert permissions in (None, "0") or int(permissions) == 0, (
                f"/{name} is hidden from members by default_member_permissions={permissions}"
            )


def test_imagine_takes_a_required_prompt_and_an_optional_image(
    fake_discord: FakeDiscord, bot_process
) -> None:
    imagine = fake_discord.command("imagine")
    assert [(o["name"], o["type"], o.get("required")) for o in imagine["options"]] == [
        ("prompt", STRING, True),
        ("image", ATTACHMENT, False),
    ]


def test_dev_guild_and_max_steps_settings(fake_discord: FakeDiscord, bot_factory) -> None:
    """``DEV_GUILD_ID`` syncs the commands to that server too; ``MAX_STEPS`` bounds --steps."""
    bot_factory(DEV_GUILD_ID=fake_discord.guild_id, MAX_STEPS=10)
    guild_names = {c["name"] for c in fake_discord.guild_commands()}
    assert guild_names >= REGISTERED_NOW
    assert guild_names == {c["name"] for c in fake_discord.global_commands()}

    bob = fake_discord.member("bob")
    handle = fake_discord.invoke("imagine", bob, prompt="a fox --steps 11", guild=True)
    reply = handle.wait_reply(timeout=10)
    assert reply.ephemeral and "--steps" in reply.content and "10" in reply.content

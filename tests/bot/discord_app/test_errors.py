"""The one error path: each domain error becomes its ephemeral reply; a failure of the
bot's own is logged with a reference the user is given; nothing is said after a shutdown."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import discord
import pytest
from discord import app_commands

from bot.discord_app.errors import GuardedButton, reply_error
from bot.discord_app.imagine import imagine
from core.errors import (
    BadImage,
    BadParameter,
    Banned,
    BlockedPrompt,
    GroupRefused,
    NotAllowed,
    QueueFull,
    QuotaExceeded,
    UnknownJob,
    UserError,
)
from tests.bot.discord_app.offline import Interaction, http_error, make_bot

RESET = datetime(2030, 1, 2, tzinfo=UTC)
STAMP = int(RESET.timestamp())

USER_ERRORS = [
    UserError("plain"),
    BadParameter("--ar", "--ar takes W:H"),
    Banned("You are banned here."),
    BlockedPrompt("That prompt uses a blocked word."),
    QueueFull("The queue is full."),
    UnknownJob("There is no job 5."),
    NotAllowed("Only its owner may cancel it."),
    GroupRefused("Not all fit."),
    BadImage("Not an image."),
    QuotaExceeded("No quota here.", limit=0, used=0, resets_at=RESET),  # 0: the server's off
]


@pytest.fixture
def bot():
    return make_bot()


def only_reply(interaction: Interaction) -> str:
    """The one ephemeral message the user got."""
    replies = interaction.response.sent + interaction.followup.sent
    assert len(replies) == 1, replies
    content, options = replies[0]
    assert options == {"ephemeral": True}
    assert content is not None
    return content


@pytest.mark.parametrize("error", USER_ERRORS, ids=lambda e: type(e).__name__)
async def test_each_user_error_is_its_message_privately(bot, error: UserError) -> None:
    interaction = Interaction(bot)
    await reply_error(interaction, error)  # type: ignore[arg-type]
    assert only_reply(interaction) == error.message


@pytest.mark.parametrize(
    ("everywhere", "where"), [(False, ""), (True, " across all servers")], ids=["here", "all"]
)
async def test_a_used_up_quota_says_when_it_resets(bot, everywhere: bool, where: str) -> None:
    error = QuotaExceeded("x", limit=5, used=5, resets_at=RESET, everywhere=everywhere)
    interaction = Interaction(bot)
    await reply_error(interaction, error)  # type: ignore[arg-type]
    assert only_reply(interaction) == (
        f"You have used your 5 jobs for today{where} (5 used). "
        f"Your quota resets <t:{STAMP}:R> (<t:{STAMP}:t>)."
    )


async def test_a_command_error_is_unwrapped_and_a_failed_check_says_why(bot) -> None:
    interaction = Interaction(bot)
    wrapped = app_commands.CommandInvokeError(imagine, Banned("You are banned here."))
    await reply_error(interaction, wrapped)  # type: ignore[arg-type]
    assert only_reply(interaction) == "You are banned here."
    for check, says in [
        (app_commands.NoPrivateMessage(), "This command cannot be used in direct messages."),
        (app_commands.CheckFailure(), "You can't use this here."),
    ]:
        interaction = Interaction(bot)
        await reply_error(interaction, check)  # type: ignore[arg-type]
        assert only_reply(interaction) == says


async def test_a_bug_is_logged_with_the_reference_the_user_is_given(bot, caplog) -> None:
    interaction = Interaction(bot)
    with caplog.at_level(logging.ERROR, logger="bot.discord_app.errors"):
        await reply_error(interaction, KeyError("secret detail"))  # type: ignore[arg-type]
    reply = only_reply(interaction)
    match = re.fullmatch(r"Something went wrong on my side \(ref `([0-9a-f]{6})`\)\. .+", reply)
    assert match is not None and "secret" not in reply
    (record,) = caplog.records
    assert f"ref {match[1]}" in record.getMessage() and record.exc_info is not None


async def test_after_an_answer_the_reply_is_a_private_followup(bot) -> None:
    interaction = Interaction(bot, answered=True)
    await reply_error(interaction, Banned("You are banned here."))  # type: ignore[arg-type]
    assert interaction.followup.sent == [("You are banned here.", {"ephemeral": True})]


async def test_a_reply_discord_refuses_is_logged_not_raised(bot, caplog) -> None:
    interaction = Interaction(bot, answered=True, followup_fails=http_error(404))
    with caplog.at_level(logging.WARNING, logger="bot.discord_app.errors"):
        await reply_error(interaction, Banned("x"))  # type: ignore[arg-type]
    assert "could not tell the user about an error in 7" in caplog.text


async def test_nothing_is_said_once_the_client_is_closed(caplog) -> None:
    # A client that never connected cannot close (discord.py's shards were never made):
    # a stopped one, as the handler sees it.
    interaction = Interaction(SimpleNamespace(is_closed=lambda: True))
    with caplog.at_level(logging.INFO, logger="bot.discord_app.errors"):
        await reply_error(interaction, RuntimeError("Session is closed"))  # type: ignore[arg-type]
    assert interaction.response.sent == [] and interaction.followup.sent == []
    assert "cut off by the shutdown" in caplog.text
    # A user's error is still theirs to read.
    await reply_error(interaction, Banned("You are banned here."))  # type: ignore[arg-type]
    assert only_reply(interaction) == "You are banned here."


class Failing(GuardedButton, template=r"failing:(?P<n>[0-9])"):
    """A persistent button whose action fails as the user's fault."""

    def __init__(self) -> None:
        super().__init__(discord.ui.Button(label="x", custom_id="failing:1"))

    async def run(self, interaction: discord.Interaction) -> None:
        raise BadParameter("--steps", "--steps is 1 to 50")


async def test_a_persistent_buttons_error_is_answered_like_a_commands(bot) -> None:
    interaction = Interaction(bot)
    await Failing().callback(interaction)  # type: ignore[arg-type]
    assert only_reply(interaction) == "--steps is 1 to 50"

"""The client: a form's submit goes to the handler whose pattern its custom id matches
(after a restart too); one this version does not know is told it expired; a handler's
error takes the one error path; other interactions are left to their own handlers."""

from __future__ import annotations

import re

import discord

from bot.discord_app.client import EXPIRED_FORM
from core.errors import BadParameter
from tests.bot.discord_app.offline import Interaction, make_bot


def submit(bot, custom_id: str, kind=discord.InteractionType.modal_submit) -> Interaction:
    interaction = Interaction(bot)
    interaction.type = kind  # type: ignore[attr-defined]
    interaction.data = {"custom_id": custom_id}  # type: ignore[attr-defined]
    return interaction


async def test_a_submit_goes_to_the_form_whose_pattern_matches_its_whole_id() -> None:
    bot = make_bot()
    routed: list[tuple[str, str]] = []

    async def zoom(interaction, match: re.Match[str]) -> None:
        routed.append(("zoom", match["job"]))

    async def remix(interaction, match: re.Match[str]) -> None:
        routed.append(("remix", match["job"]))

    bot.add_form(re.compile(r"fz:(?P<job>[0-9]+)"), zoom)
    bot.add_form(re.compile(r"fr:(?P<job>[0-9]+)"), remix)
    for custom_id in ("fr:12", "fz:30", "fz:30:extra"):
        await bot.on_interaction(submit(bot, custom_id))  # type: ignore[arg-type]
    assert routed == [("remix", "12"), ("zoom", "30")]


async def test_an_unknown_form_has_expired_and_a_failing_one_is_answered() -> None:
    bot = make_bot()

    async def failing(interaction, match) -> None:
        raise BadParameter("factor", "A zoom is 1 to 2.")

    bot.add_form(re.compile(r"fz:[0-9]+"), failing)
    unknown = submit(bot, "old-form:1")
    await bot.on_interaction(unknown)  # type: ignore[arg-type]
    assert unknown.response.sent == [(EXPIRED_FORM, {"ephemeral": True})]
    failed = submit(bot, "fz:3")
    await bot.on_interaction(failed)  # type: ignore[arg-type]
    assert failed.response.sent == [("A zoom is 1 to 2.", {"ephemeral": True})]


async def test_other_interactions_are_not_answered_here() -> None:
    bot = make_bot()
    pressed = submit(bot, "fz:3", kind=discord.InteractionType.component)
    await bot.on_interaction(pressed)  # type: ignore[arg-type]
    assert pressed.response.sent == [] and not pressed.response.is_done()


async def test_the_download_session_lasts_until_closed() -> None:
    bot = make_bot()
    session = bot.http_session
    assert bot.http_session is session
    await session.close()
    again = bot.http_session  # a closed one is replaced, not reused
    assert again is not session and not again.closed
    await again.close()

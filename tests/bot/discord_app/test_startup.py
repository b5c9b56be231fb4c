"""A failure at start: one clear line and the exit status (2: a setting is wrong)."""

from __future__ import annotations

import discord
import pytest

from bot.discord_app.startup import describe_startup_error
from tests.bot.discord_app.offline import make_settings


def raised(exc: BaseException, *, filename: str) -> BaseException:
    """``exc`` as raised by code compiled from ``filename``, with its traceback."""
    try:
        exec(compile("raise exc", filename, "exec"), {"exc": exc})
    except BaseException as caught:
        return caught
    raise AssertionError("not raised")


def test_a_rejected_token_and_a_missing_intent_name_the_setting() -> None:
    settings = make_settings()
    line, status = describe_startup_error(discord.LoginFailure("Improper token"), settings)
    assert status == 2 and line.startswith("DISCORD_TOKEN was rejected")
    line, status = describe_startup_error(discord.PrivilegedIntentsRequired(None), settings)
    assert status == 2 and "intent" in line and "developer portal" in line


@pytest.mark.parametrize("error", [OSError("no such model\nsecond line"), ValueError("bad config")])
def test_an_error_from_model_loading_names_model_id_with_its_first_line(error) -> None:
    settings = make_settings(model_id="some/model")
    exc = raised(error, filename="/x/engine/model.py")
    line, status = describe_startup_error(exc, settings)
    first = str(error).splitlines()[0]
    assert (line, status) == (f"could not load MODEL_ID=some/model: {first}", 2)


def test_anything_else_is_its_type_and_first_line_with_status_1() -> None:
    settings = make_settings()
    elsewhere = raised(OSError("disk full\ndetails"), filename="/x/storage/db.py")
    assert describe_startup_error(elsewhere, settings) == ("OSError: disk full", 1)
    assert describe_startup_error(RuntimeError(""), settings) == ("RuntimeError: RuntimeError", 1)

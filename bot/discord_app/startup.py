"""Turning a failure at start into one clear line and an exit status."""

from __future__ import annotations

from bot.settings import Settings


def describe_startup_error(exc: BaseException, settings: Settings) -> tuple[str, int]:
    """A one-line message for ``exc`` and the exit status (2: a setting is wrong)."""
    import discord

    if isinstance(exc, discord.LoginFailure):
        return "DISCORD_TOKEN was rejected by Discord: check the bot token", 2
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return "the bot asked for an intent that is not enabled in the developer portal", 2
    if isinstance(exc, OSError | ValueError) and _from_model_loading(exc):
        return f"could not load MODEL_ID={settings.model_id}: {_first_line(exc)}", 2
    return f"{type(exc).__name__}: {_first_line(exc)}", 1


def _from_model_loading(exc: BaseException) -> bool:
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename.endswith("engine/model.py"):
            return True
        traceback = traceback.tb_next
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

"""``python -m bot``: the composition root.

Settings, then ``bot.app.open_app`` (storage, engine, services), then the Discord client:
opened in that order, closed in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from bot.settings import Settings, SettingsError, load_settings

logger = logging.getLogger("bot")


async def run_bot(settings: Settings) -> None:
    """Open everything, run the bot until it is stopped, close everything."""
    from bot.app import open_app
    from bot.discord_app import create_bot

    token = settings.require_token()
    async with (
        open_app(settings, warm=True, metrics=True) as app,
        create_bot(settings, app.services, app.metrics) as bot,
    ):
        # The blocked-word tables (about 2 s, on the scanner's threads) before the bot takes
        # interactions, so that the first prompts are answered at once.
        await app.services.admission.words.ready()
        # SIGTERM (systemd, docker stop) closes the bot; the blocks above then close the
        # services, engine and storage in reverse order.
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(bot.close()))
        await bot.start(token)


def main(argv: list[str] | None = None) -> int:
    """Start the bot; 2 for a missing or invalid setting, 1 for a failure at start."""
    del argv
    # Files the bot writes (database, images) are its own: no access for others.
    os.umask(0o077)
    try:
        settings = load_settings()
        token = settings.require_token()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from bot.logs import configure_logging

    configure_logging(settings.log_level, secrets=[token])  # never logged, at any level
    try:
        asyncio.run(run_bot(settings))
    except KeyboardInterrupt:
        logger.info("stopped")
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from bot.discord_app.startup import describe_startup_error

        message, code = describe_startup_error(exc, settings)
        logger.debug("start failed", exc_info=True)
        print(f"error: {message}", file=sys.stderr)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bot``: the composition root.

Settings, storage, engine, service, bot: opened in that order, closed in reverse.
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


def load_engine(settings: Settings, *, nsfw_filter: bool = True):
    """Load ``MODEL_ID`` (blocking) and build the engine with the batch size for its device,
    and the NSFW classifier unless ``NSFW_FILTER=off`` (or ``nsfw_filter`` is False)."""
    from engine.engine import Engine
    from engine.model import load_model, pick_device

    classifier = None
    if nsfw_filter and settings.nsfw_filter != "off":
        classifier = load_classifier(settings, pick_device(settings.device))
    model = load_model(settings.model_id, settings.device)
    return Engine(
        model, max_batch_images=settings.batch_images(model.device), classifier=classifier
    )


def load_classifier(settings: Settings, device: str):
    """The NSFW classifier; a ``SettingsError`` when it cannot be loaded, since sending
    unfiltered images with the filter on would be worse than not starting."""
    from engine.nsfw import NsfwClassifier

    try:
        return NsfwClassifier.load(settings.nsfw_model, device, settings.nsfw_threshold)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SettingsError(
            f"NSFW_MODEL={settings.nsfw_model} could not be loaded ({first}); with "
            f"NSFW_FILTER={settings.nsfw_filter} the bot does not start without it "
            "(set NSFW_FILTER=off to run without the filter)"
        ) from exc


async def run_bot(settings: Settings) -> None:
    """Open everything, run the bot until it is stopped, close everything."""
    from bot.discord_app.client import ImagineBot
    from bot.service import Service
    from storage.db import Storage

    token = settings.require_token()
    async with Storage(settings.data_dir) as storage:
        engine = await asyncio.to_thread(load_engine, settings)
        async with (
            engine,
            Service.from_settings(storage, engine, settings) as service,
            ImagineBot(settings, service) as bot,
        ):
            # SIGTERM (systemd, docker stop) closes the bot; the blocks above then close
            # the service, engine and storage in reverse order.
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
        settings.require_token()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from bot.logs import configure_logging

    configure_logging(settings.log_level)
    try:
        asyncio.run(run_bot(settings))
    except KeyboardInterrupt:
        logger.info("stopped")
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from bot.startup import describe_startup_error

        message, code = describe_startup_error(exc, settings)
        logger.debug("start failed", exc_info=True)
        print(f"error: {message}", file=sys.stderr)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())

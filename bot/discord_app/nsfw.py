"""Where the NSFW filter applies: everything the bot shows outside the channels Discord
marks NSFW (grids, upscales, the Vary (Region) picker, /history thumbnails, previews)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot


def filter_in(bot: ImagineBot, channel_id: int | None) -> str:
    """``NSFW_FILTER`` as it applies to what is shown in ``channel_id``: ``off`` in a
    channel Discord marks NSFW, else the setting (``off``, ``blur`` or ``block``). A
    channel the bot cannot see counts as not NSFW."""
    mode = bot.settings.nsfw_filter
    return "off" if mode == "off" or channel_is_nsfw(bot, channel_id) else mode


def channel_is_nsfw(bot: ImagineBot, channel_id: int | None) -> bool:
    """Whether Discord marks the channel (or a thread's parent) NSFW."""
    channel = bot.get_channel(channel_id) if channel_id else None
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False

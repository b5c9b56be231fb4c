"""Where the NSFW filter applies: off in a channel Discord marks NSFW (a thread takes
its parent's mark), else the setting; a channel the bot cannot see is not NSFW."""

from __future__ import annotations

import pytest

from bot.discord_app.nsfw import channel_is_nsfw, filter_in
from tests.bot.discord_app.offline import add_guild, make_bot

NSFW_TEXT, SAFE_TEXT, NSFW_VOICE, SAFE_VOICE = 10, 11, 12, 13
NSFW_THREAD, SAFE_THREAD, UNSEEN = 20, 21, 99


def bot_with_channels(mode: str):
    bot = make_bot(nsfw_filter=mode)
    add_guild(
        bot,
        text={NSFW_TEXT: True, SAFE_TEXT: False},
        voice={NSFW_VOICE: True, SAFE_VOICE: False},
        threads={NSFW_THREAD: NSFW_TEXT, SAFE_THREAD: SAFE_TEXT},
    )
    return bot


@pytest.mark.parametrize(
    ("channel_id", "nsfw"),
    [
        (NSFW_TEXT, True),
        (SAFE_TEXT, False),
        (NSFW_VOICE, True),  # a voice channel's text chat
        (SAFE_VOICE, False),
        (NSFW_THREAD, True),  # a thread is NSFW when its parent is
        (SAFE_THREAD, False),
        (UNSEEN, False),  # not in the cache (a DM, a channel the bot cannot see)
        (None, False),  # no channel at all (the CLI)
    ],
)
@pytest.mark.parametrize("mode", ["blur", "block", "off"])
def test_the_filter_is_off_in_nsfw_channels_and_the_setting_elsewhere(
    mode: str, channel_id: int | None, nsfw: bool
) -> None:
    bot = bot_with_channels(mode)
    assert channel_is_nsfw(bot, channel_id) is nsfw
    assert filter_in(bot, channel_id) == ("off" if nsfw else mode)

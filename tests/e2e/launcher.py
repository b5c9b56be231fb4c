"""Run the real bot (``python -m bot``) against the fake Discord of the e2e tests.

Run as ``python tests/e2e/launcher.py`` with ``FAKE_DISCORD_URL=http://127.0.0.1:PORT``
(and the bot's own settings) in the environment. It points discord.py's REST base and
gateway at the fake, lets discord.py identify its shards without Discord's 5 s pause (the
fake does not rate-limit IDENTIFY), then calls the product's entry point unchanged.

The tests' gates on the worker reach the bot through the product's own test seam,
``IMAGINEBOT_TEST_ENGINE_OPTIONS`` (``bot.app``; the fixtures set it to
``tests/e2e/engine_options.py``), which this file only makes importable. Nothing of the
product is set from here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

URL_VARIABLE = "FAKE_DISCORD_URL"
ROOT = Path(__file__).resolve().parents[2]


def point_discord_at(url: str) -> None:
    """Send discord.py's REST calls and gateway connection to ``url``."""
    import discord.gateway
    import discord.http
    import yarl

    base = yarl.URL(url.rstrip("/"))
    discord.http.Route.BASE = str(base / "api" / "v10")
    scheme = "wss" if base.scheme == "https" else "ws"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base.with_scheme(scheme) / "gateway"


def identify_shards_at_once() -> None:
    """Discord wants 5 s between two shards' IDENTIFYs, and discord.py's default
    ``Client.before_identify_hook`` sleeps them; the fake does not rate-limit IDENTIFY,
    so the second shard connects at once instead of adding 5 s to every start. This is
    discord.py's pacing for the real Discord, like its URLs: the product does not
    override the hook."""
    import discord

    async def at_once(self, shard_id, *, initial=False):  # type: ignore[no-untyped-def]
        return None

    discord.Client.before_identify_hook = at_once  # type: ignore[method-assign]


def main() -> int:
    url = os.environ.get(URL_VARIABLE)
    if not url:
        print(f"error: {URL_VARIABLE} is not set", file=sys.stderr)
        return 2
    point_discord_at(url)
    identify_shards_at_once()
    if str(ROOT) not in sys.path:  # the tests' engine options import from the repository
        sys.path.insert(0, str(ROOT))
    from bot.__main__ import main as bot_main

    return bot_main()


if __name__ == "__main__":
    sys.exit(main())

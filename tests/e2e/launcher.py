"""Run the real bot (``python -m bot``) against the fake Discord of the e2e tests.

Run as ``python tests/e2e/launcher.py`` with ``FAKE_DISCORD_URL=http://127.0.0.1:PORT``
(and the bot's own settings) in the environment. It only points discord.py's REST base
and gateway at the fake, then calls the product's entry point unchanged.
"""

from __future__ import annotations

import os
import sys

URL_VARIABLE = "FAKE_DISCORD_URL"
# A file: while it exists, the worker holds each batch before running it (the job is
# "running" and the rest wait), so that a test decides when the GPU is busy, not a clock.
GATE_VARIABLE = "E2E_WORKER_GATE"


def point_discord_at(url: str) -> None:
    """Send discord.py's REST calls and gateway connection to ``url``."""
    import discord.gateway
    import discord.http
    import yarl

    base = yarl.URL(url.rstrip("/"))
    discord.http.Route.BASE = str(base / "api" / "v10")
    scheme = "wss" if base.scheme == "https" else "ws"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base.with_scheme(scheme) / "gateway"


def hold_worker_while(gate: str) -> None:
    """Make the worker wait, before each batch, while the file ``gate`` exists."""
    import time
    from pathlib import Path

    from engine.worker import Worker

    path = Path(gate)
    run_batch = Worker._run_batch

    def gated(self, items):  # type: ignore[no-untyped-def]
        # A cancel (a user's, a ban's, a clean stop's) reaches a held batch as it would a
        # running one: the batch goes on to the worker, which drops its cancelled jobs.
        while path.exists() and not all(item.cancelled.is_set() for item in items):
            time.sleep(0.02)
        return run_batch(self, items)

    Worker._run_batch = gated  # type: ignore[method-assign]


def main() -> int:
    url = os.environ.get(URL_VARIABLE)
    if not url:
        print(f"error: {URL_VARIABLE} is not set", file=sys.stderr)
        return 2
    point_discord_at(url)
    if os.environ.get(GATE_VARIABLE):
        hold_worker_while(os.environ[GATE_VARIABLE])
    from bot.__main__ import main as bot_main

    return bot_main()


if __name__ == "__main__":
    sys.exit(main())

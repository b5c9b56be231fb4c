"""Run the real bot (``python -m bot``) against the fake Discord of the e2e tests.

Run as ``python tests/e2e/launcher.py`` with ``FAKE_DISCORD_URL=http://127.0.0.1:PORT``
(and the bot's own settings) in the environment. It only points discord.py's REST base
and gateway at the fake, then calls the product's entry point unchanged.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

URL_VARIABLE = "FAKE_DISCORD_URL"
# A file: while it exists, the worker holds each batch before running it (the job is
# "running" and the rest wait), so that a test decides when the GPU is busy, not a clock.
GATE_VARIABLE = "E2E_WORKER_GATE"
# A file holding a number N: while it exists, every pipeline call stops at the end of its
# step N (after reporting it) until the file says more, so that a test sees a job's
# progress one step at a time, at its own pace.
STEP_GATE_VARIABLE = "E2E_STEP_GATE"
# Seconds the bot gives an image prompt's download (the product's is 10): a test of a
# stalled download need not wait that long.
DOWNLOAD_TIMEOUT_VARIABLE = "E2E_DOWNLOAD_TIMEOUT"
# Seconds between a pipeline call's previews (the product's is 2; 0: at every step but
# the last), so that a test held at a step gate knows which step's preview it sees.
PREVIEW_SECONDS_VARIABLE = "E2E_PREVIEW_SECONDS"


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


class FileStepGate:
    """The ``hold(step)`` of ``tests.gates.StepGate``, opened by a number in a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def allowed(self) -> int | None:
        """The step calls stop at, or None when the file is gone (no gate)."""
        try:
            return int(self.path.read_text().strip() or 0)
        except FileNotFoundError:
            return None
        except ValueError:  # read while the test writes it: look again
            return 0

    def hold(self, step: int) -> None:
        while (allowed := self.allowed()) is not None and step + 1 >= allowed:
            time.sleep(0.02)


def hold_steps_by(gate: str) -> None:
    """Make every pipeline call of the loaded model wait at the step gate ``gate``."""
    import engine.model

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.gates import gated

    load_model = engine.model.load_model
    step_gate = FileStepGate(Path(gate))

    def load_gated(*args, **kwargs):  # type: ignore[no-untyped-def]
        return gated(load_model(*args, **kwargs), step_gate)

    engine.model.load_model = load_gated  # type: ignore[assignment]


def preview_every(seconds: float) -> None:
    """Make every worker decode a preview when ``seconds`` have passed since its last."""
    from engine.worker import Worker

    init = Worker.__init__

    def with_interval(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        init(self, *args, **{**kwargs, "preview_interval": seconds})

    Worker.__init__ = with_interval  # type: ignore[method-assign]


def identify_shards_at_once() -> None:
    """Discord wants 5 s between two shards' IDENTIFYs (discord.py's
    ``before_identify_hook`` sleeps them); the fake does not rate-limit IDENTIFY, so the
    second shard connects at once instead of adding 5 s to every start."""
    from bot.discord_app.client import ImagineBot

    async def at_once(self, shard_id, *, initial=False):  # type: ignore[no-untyped-def]
        return None

    ImagineBot.before_identify_hook = at_once  # type: ignore[method-assign]


def main() -> int:
    url = os.environ.get(URL_VARIABLE)
    if not url:
        print(f"error: {URL_VARIABLE} is not set", file=sys.stderr)
        return 2
    point_discord_at(url)
    identify_shards_at_once()
    if os.environ.get(GATE_VARIABLE):
        hold_worker_while(os.environ[GATE_VARIABLE])
    if os.environ.get(STEP_GATE_VARIABLE):
        hold_steps_by(os.environ[STEP_GATE_VARIABLE])
    if os.environ.get(PREVIEW_SECONDS_VARIABLE):
        preview_every(float(os.environ[PREVIEW_SECONDS_VARIABLE]))
    if os.environ.get(DOWNLOAD_TIMEOUT_VARIABLE):
        import bot.discord_app.client

        bot.discord_app.client.DOWNLOAD_TIMEOUT = float(os.environ[DOWNLOAD_TIMEOUT_VARIABLE])
    from bot.__main__ import main as bot_main

    return bot_main()


if __name__ == "__main__":
    sys.exit(main())

"""The real bot as a process of the e2e tests: started through ``tests/e2e/launcher.py``
(a fresh interpreter) or forked from the zygote, pointed at the fake Discord, stopped
with a signal as systemd would; its log and its SQLite database are the tests' to read.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.app import TEST_ENGINE_OPTIONS
from tests.e2e import engine_options
from tests.e2e.fake_discord import FakeDiscord
from tests.e2e.zygote import ForkedProcess, Zygote

LAUNCHER = Path(__file__).with_name("launcher.py")
STARTUP_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
LOG_TAIL = 30_000


def base_environment() -> dict[str, str]:
    """The parent's environment without any product setting, offline, unbuffered."""
    from bot.settings import Settings

    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONFAULTHANDLER": "1",
        }
    )
    return env


class BotProcess:
    """The bot as a subprocess, pointed at the fake by the launcher."""

    def __init__(
        self,
        fake: FakeDiscord,
        model_dir: Path,
        root: Path,
        *,
        name: str = "bot",
        settings: dict[str, str] | None = None,
        zygote: Zygote | None = None,
        fresh_first: bool = False,
    ) -> None:
        self.fake = fake
        # Forked from the zygote, except the first start with ``fresh_first``: a fresh
        # interpreter, as ``python -m bot`` is (and what an import-time mistake would break).
        self.zygote = zygote
        self.fresh_first = fresh_first
        self.model_dir = model_dir
        self.name = name
        self.root = root
        self.data_dir = root / "data"
        self.cwd = root / "cwd"
        self.log_path = root / "bot.log"
        self.settings = dict(settings or {})
        self.process: subprocess.Popen[bytes] | ForkedProcess | None = None
        self.starts = 0
        self.last_exit_code: int | None = None
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()

    @property
    def db_path(self) -> Path:
        return self.data_dir / "imaginebot.sqlite3"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def environment(self) -> dict[str, str]:
        """The parent's environment without any product setting, then the test's settings."""
        env = base_environment()
        env.update(
            {
                "FAKE_DISCORD_URL": self.fake.url,
                # The gates and preview pace a test passes (E2E_WORKER_GATE...).
                TEST_ENGINE_OPTIONS: engine_options.TARGET,
                "DISCORD_TOKEN": "fake-bot-token",
                "MODEL_ID": str(self.model_dir),
                "DATA_DIR": str(self.data_dir),
                "DEVICE": "cpu",
                "LOG_LEVEL": "INFO",
                "NSFW_FILTER": "off",
                # Upscale (Creative) stops at 512 px: the tiny model's full-size VAE
                # attention makes larger images slow on a CPU.
                "MAX_UPSCALE_SIDE": "512",
                # Written beside the model by the e2e_model_dir fixture.
                "DESCRIBE_MODEL": str(self.model_dir.parent / "tiny-describe"),
                "IP_ADAPTER_SD": str(self.model_dir.parent / "tiny-ip-adapter"),
                "VIDEO_MODEL": str(self.model_dir.parent / "tiny-video"),
                # --sref/--oref links: the fake's CDN is the only host.
                "MEDIA_HOSTS": urlsplit(self.fake.url).netloc,
            }
        )
        env.update(self.settings)
        return env

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start the bot; return once it synced its commands and IDENTIFYed."""
        assert not self.running, "the bot is already running"
        identified = self.fake.identify_count
        synced = self.fake.command_sync_count
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"=== start {self.starts} ===\n".encode())
            log.flush()
        if self.zygote is not None and not (self.fresh_first and self.starts == 1):
            self.process = self.zygote.spawn(self.environment(), self.cwd, self.log_path)
        else:
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, str(LAUNCHER)],
                    cwd=self.cwd,
                    env=self.environment(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        deadline = time.monotonic() + timeout
        while self.fake.identify_count <= identified or not self.fake.connected:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the bot exited with {self.process.returncode} while starting:\n"
                    + self.log_since(0)[-LOG_TAIL:]
                )
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(
                    f"the bot did not connect within {timeout:g} s:\n"
                    + self.log_since(0)[-LOG_TAIL:]
                )
            time.sleep(0.1)
        assert self.fake.command_sync_count > synced, "the bot connected without syncing commands"

    def stop(
        self,
        timeout: float = STOP_TIMEOUT,
        sig: signal.Signals = signal.SIGTERM,
        *,
        quiet: bool = True,
    ) -> int | None:
        """Send ``sig`` (SIGTERM, as systemd and docker do; or SIGINT, Ctrl-C) and wait;
        SIGKILL after ``timeout``. The exit code, or None when it had to be killed.

        With ``quiet`` (the default) it first waits until the fake has served nothing
        for a moment; ``quiet=False`` stops at once, requests in flight or not."""
        if self.process is None:
            return self.last_exit_code
        if self.process.poll() is None:
            # Let the bot read the answers to what it just sent: a request cut off by the
            # shutdown is not what the tests are about (test that on purpose, if at all).
            if quiet:
                self.fake.wait_quiet()
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self.last_exit_code = None
                self.process = None
                return None
        self.last_exit_code = self.process.returncode
        self.process = None
        return self.last_exit_code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> int | None:
        """Stop and start again with the same DATA_DIR; the exit code of the stop."""
        code = self.stop()
        self.start()
        return code

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` on the bot's database (WAL: safe while the bot runs)."""
        connection = sqlite3.connect(self.db_path, timeout=10)
        try:
            return connection.execute(sql, args).fetchall()
        finally:
            connection.close()

    def count_jobs(self) -> int:
        return self.query("SELECT count(*) FROM jobs")[0][0]

"""Fixtures of the end-to-end tests: the fake Discord and the real bot process.

- ``fake_discord``: the ``FakeDiscord`` (one per session); a test fails when, during it,
  the fake recorded a problem: an unexpected call, a rejected request (Discord's limits),
  an interaction not acknowledged in 3 s, or an error inside the fake. A test that
  provokes a rejection on purpose calls ``fake_discord.allow_rejections(code)``.
- ``bot_process``: the real bot (``tests/e2e/launcher.py`` -> ``bot.__main__.main``), shared
  by the tests and started when a test needs it. ``stop()``, ``start()`` and
  ``restart()`` keep ``data_dir``; ``query(sql, ...)`` reads the bot's SQLite database.
  A test fails when the bot logged an ERROR or a traceback during it (unless marked
  ``@pytest.mark.allow_bot_errors``); when a test fails, the bot's output is shown.
- ``gate``: a file that holds the bot's worker while it exists (``E2E_WORKER_GATE``).
- ``step_gate``: a file with a step number at which each pipeline call waits
  (``E2E_STEP_GATE``): a running job's progress, one step at a time. Both reach the bot
  through the product's test seam for the engine (``tests/e2e/engine_options.py``).
- ``bot_factory``: ``bot_factory(**settings)`` starts a bot of the test's own (own
  DATA_DIR, extra settings such as ``OWNER_IDS="1"``); the shared one is stopped first,
  since the fake has one gateway. These bots are forked from ``zygote`` (a process that
  imported the bot once: ``tests/e2e/zygote.py``), as are the shared one's restarts (its
  first start is a fresh interpreter); ``E2E_FRESH_PROCESSES=1``: every start is fresh.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bot_process import LOG_TAIL, BotProcess, base_environment
from tests.e2e.fake_discord import FakeDiscord
from tests.e2e.zygote import Zygote

_ERROR_LINE = re.compile(r"^\S+ \S+ (ERROR|CRITICAL)\b|^Traceback \(most recent call last\)", re.M)

BOTS_KEY = pytest.StashKey[list[tuple["BotProcess", int]]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_bot_errors: the bot may log errors during this test (on purpose)"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """Show the bot's output (from the start of the test) when a test fails."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not report.failed:
        return
    for bot, offset in item.stash.get(BOTS_KEY, []):
        text = bot.log_since(offset)
        if len(text) > LOG_TAIL:
            text = "[...]\n" + text[-LOG_TAIL:]
        report.sections.append((f"bot process output ({bot.name}, {report.when})", text))


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """A gate on the bot's worker that the test controls: pass it as
    ``bot_factory(E2E_WORKER_GATE=gate)``; while the file exists, the worker holds every
    batch before running it (its job is "running", the others wait)."""
    path = tmp_path / "worker-gate"
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def step_gate(tmp_path: Path) -> Iterator[Path]:
    """A step gate on the bot's pipeline: pass it as ``bot_factory(E2E_STEP_GATE=step_gate)``;
    while the file exists and holds N, each pipeline call stops at the end of its step N
    (after reporting it) until the test writes a larger number or removes the file."""
    path = tmp_path / "step-gate"
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def e2e_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight pipeline written by the product's own CLI, once per session."""
    directory = tmp_path_factory.mktemp("e2e-model") / "tiny-sd"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # Beside it: the tiny captioning model (DESCRIBE_MODEL), the tiny LTX-Video
    # (VIDEO_MODEL) and an IP-Adapter folder for its UNet (IP_ADAPTER_SD), which every bot
    # of the tests is given (bot_process.py).
    families = [(directory, "sd"), (directory.parent / "tiny-describe", "describe")]
    families.append((directory.parent / "tiny-video", "video"))
    # At once: most of each run is importing torch and diffusers (a core each).
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "tiny-model", str(target), "--family", family],
            cwd=tmp_path_factory.getbasetemp(),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for target, family in families
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]  # each ended, then checked
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
    from diffusers import UNet2DConditionModel

    from devtools.tiny_ip_adapter import write_tiny_ip_adapter

    unet = UNet2DConditionModel.from_pretrained(directory / "unet")
    write_tiny_ip_adapter(directory.parent / "tiny-ip-adapter", unet, "sd")
    return directory


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeDiscord]:
    # Two shards, as Discord would have a bigger bot run: server A's events reach the bot
    # on shard 0 and server B's on shard 1, in every test.
    fake = FakeDiscord(shards=2).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_discord(fake_server: FakeDiscord) -> Iterator[FakeDiscord]:
    """The fake Discord; the test fails on any problem it recorded meanwhile."""
    fake_server.clear_allowed_rejections()
    since = fake_server.mark()
    yield fake_server
    deadline = time.monotonic() + fake_server.ack_deadline + 0.5
    while fake_server.pending_acks() and time.monotonic() < deadline:
        time.sleep(0.1)
    problems = fake_server.problems(since)
    fake_server.clear_allowed_rejections()
    if problems:
        pytest.fail("the fake Discord recorded problems:\n- " + "\n- ".join(problems))


@pytest.fixture(scope="session")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote | None]:
    """The process the tests' own bots are forked from (``tests/e2e/zygote.py``), or None
    with ``E2E_FRESH_PROCESSES=1`` (every bot start a fresh interpreter)."""
    if os.environ.get("E2E_FRESH_PROCESSES") == "1":
        yield None
        return
    zygote = Zygote(base_environment(), tmp_path_factory.mktemp("zygote") / "zygote.log")
    yield zygote
    zygote.close()


@pytest.fixture(scope="session")
def shared_bot(
    fake_server: FakeDiscord,
    zygote: Zygote | None,  # first: its imports run while the tiny models are written
    e2e_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BotProcess]:
    bot = BotProcess(
        fake_server,
        e2e_model_dir,
        tmp_path_factory.mktemp("bot"),
        zygote=zygote,
        fresh_first=True,
    )
    yield bot
    bot.stop()


def _watch(request: pytest.FixtureRequest, bot: BotProcess) -> int:
    offset = bot.log_size()
    request.node.stash.setdefault(BOTS_KEY, []).append((bot, offset))
    return offset


def _check_log(request: pytest.FixtureRequest, bot: BotProcess, offset: int) -> None:
    if request.node.get_closest_marker("allow_bot_errors"):
        return
    text = bot.log_since(offset)
    if _ERROR_LINE.search(text):
        pytest.fail(f"the bot logged errors during the test:\n{text[-LOG_TAIL:]}")


@pytest.fixture
def bot_process(
    request: pytest.FixtureRequest, fake_discord: FakeDiscord, shared_bot: BotProcess
) -> Iterator[BotProcess]:
    """The shared bot process, running (started or restarted when needed)."""
    if not shared_bot.running:
        shared_bot.stop()
        shared_bot.start()
    offset = _watch(request, shared_bot)
    yield shared_bot
    if shared_bot.process is not None and shared_bot.process.poll() is not None:
        code = shared_bot.process.returncode
        shared_bot.process = None
        pytest.fail(
            f"the bot exited (code {code}) during the test:\n{shared_bot.log_since(offset)}"
        )
    _check_log(request, shared_bot, offset)


@pytest.fixture
def bot_factory(
    request: pytest.FixtureRequest,
    fake_discord: FakeDiscord,
    shared_bot: BotProcess,
    e2e_model_dir: Path,
    zygote: Zygote | None,
    tmp_path: Path,
) -> Iterator[Callable[..., BotProcess]]:
    """``bot_factory(**settings)``: a bot of the test's own, with its own DATA_DIR;
    ``fake=``: against a fake of the test's own (``test_many_servers``)."""
    shared_bot.stop()
    made: list[tuple[BotProcess, int]] = []

    def make(*, fake: FakeDiscord | None = None, **settings: Any) -> BotProcess:
        for bot, _ in made:
            bot.stop()
        name = f"bot-{len(made) + 1}"
        bot = BotProcess(
            fake or fake_discord,
            e2e_model_dir,
            tmp_path / name,
            name=name,
            settings={k.upper(): str(v) for k, v in settings.items()},
            zygote=zygote,
        )
        made.append((bot, _watch(request, bot)))
        bot.start()
        return bot

    yield make
    for bot, _ in made:
        bot.stop()
    for bot, offset in made:
        _check_log(request, bot, offset)

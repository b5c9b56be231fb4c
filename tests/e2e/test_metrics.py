"""Prometheus metrics from the real bot (``METRICS_PORT``): after a grid, a refused command
and an error answer from Discord, its endpoint counts each of them (the other metrics'
values: tests/bot/test_metrics.py, through the core)."""

from __future__ import annotations

import socket
import time
import urllib.request

from bot.metrics import REASONS
from tests.bot.test_metrics import parse
from tests.e2e.expect import refused_privately, wait_result
from tests.e2e.fake_discord import FakeDiscord


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return parse(response.read().decode())


def scraped(port: int, expected: dict[str, float], timeout: float = 10.0) -> dict[str, float]:
    """Scrape until every sample of ``expected`` has its value (the bot counts a finished
    job in a task of its own, beside the one that posts it)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        wrong = {name: samples.get(name) for name, value in expected.items()}
        wrong = {name: value for name, value in wrong.items() if value != expected[name]}
        if not wrong:
            return samples
        assert time.monotonic() < deadline, f"still {wrong}, expected {expected}"
        time.sleep(0.05)


def test_the_bot_serves_metrics_of_its_work(fake_discord: FakeDiscord, bot_factory) -> None:
    port = free_port()
    bot = bot_factory(METRICS_PORT=port)
    assert f"metrics served on http://127.0.0.1:{port}/metrics" in bot.log_since(0)
    alice = fake_discord.member("alice")
    # Discord fails an edit of the grid's message once (503); discord.py tries again.
    fake_discord.fail_next("PATCH", r"/messages/@original$", status=503)
    handle = fake_discord.invoke("imagine", alice, prompt="a counted fox --steps 2 --seed 3")
    assert wait_result(handle).attachments
    refused_privately(fake_discord.invoke("imagine", alice, prompt="a fox --steps 0"), alice)

    samples = scraped(
        port,
        {
            'imaginebot_images_total{kind="imagine"}': 4,
            'imaginebot_job_latency_seconds_count{status="done"}': 1,
            'imaginebot_job_run_seconds_count{status="done"}': 1,
            'imaginebot_admission_seconds_count{outcome="admitted"}': 1,
            'imaginebot_admission_seconds_count{outcome="refused"}': 1,
            'imaginebot_discord_errors_total{kind="http",status="503"}': 1,
            'imaginebot_queue_length{mode="fast"}': 0,
            'imaginebot_queue_length{mode="relax"}': 0,
            'imaginebot_model_swaps_total{worker="cpu"}': 1,  # MODEL_ID, loaded at start
            'imaginebot_worker_up{worker="cpu"}': 1,
            'imaginebot_job_failures_total{reason="other"}': 0,
        },
    )
    assert samples['imaginebot_worker_busy_seconds_total{worker="cpu"}'] > 0
    failures = {k: v for k, v in samples.items() if k.startswith("imaginebot_job_failures_total")}
    assert len(failures) == len(REASONS) and not any(failures.values())
    assert 'imaginebot_admission_seconds_count{outcome="failed"}' not in samples

"""The Prometheus metrics (bot/metrics.py): off by default; with a port, served as text
that counts what the real core and engine did (a grid, a job that failed, jobs waiting)."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import REASONS, Metrics, failure_kind, open_metrics, serve_metrics
from bot.settings import SettingsError, load_settings
from core.errors import BadParameter
from core.model import Action
from core.runner import failure_reason
from engine import ModelLoadFailed
from tests.core.commits import ALICE, BOB, finished
from tests.gates import held_worker


def parse(text: str) -> dict[str, float]:
    """Every sample by ``name{label="value",...}`` (labels sorted; no braces without)."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def scrape(port: int) -> dict[str, float]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse(await response.text())


async def eventually(port: int, name: str, value: float) -> dict[str, float]:
    """Scrape until ``name`` reads ``value`` (the runner's listeners run in tasks of their
    own); 10 s at most."""
    for _ in range(200):
        samples = await scrape(port)
        if samples.get(name) == value:
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} is {samples.get(name)}, not {value}")


async def test_metrics_are_off_unless_a_port_is_set(make_services, monkeypatch):
    monkeypatch.delenv("METRICS_PORT", raising=False)
    settings = load_settings(_env_file=None)
    assert (settings.metrics_port, settings.metrics_host) == (None, "127.0.0.1")
    services = await make_services(started=False)
    async with open_metrics(settings, services) as metrics:
        assert metrics is None
    # The CLI's app never serves them, even with a port.
    with_port = load_settings(_env_file=None, metrics_port=9)
    async with open_metrics(with_port, services, serve=False) as metrics:
        assert metrics is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("METRICS_PORT", "0"),
        ("METRICS_PORT", "70000"),
        ("METRICS_PORT", "x"),
        ("METRICS_HOST", "http://example.org"),
        ("METRICS_HOST", "127.0.0.1:9100"),
    ],
)
def test_bad_metrics_settings_are_named(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings(_env_file=None)


async def test_a_port_in_use_stops_the_bot_naming_it(make_services):
    services = await make_services(started=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = load_settings(_env_file=None, metrics_port=port)
        with pytest.raises(SettingsError, match=f"METRICS_PORT={port}"):
            async with open_metrics(settings, services):
                pass


async def test_served_metrics_count_the_real_work(make_services):
    service = await make_services()
    metrics = Metrics(service)
    server = await serve_metrics(metrics, "127.0.0.1", 0)
    port = server.addresses[0][1]
    try:
        before = await scrape(port)
        assert before['imaginebot_queue_length{mode="fast"}'] == 0
        assert before['imaginebot_queue_length{mode="relax"}'] == 0
        assert all(before[f'imaginebot_job_failures_total{{reason="{r}"}}'] == 0 for r in REASONS)
        assert before['imaginebot_worker_busy_seconds_total{worker="cpu"}'] == 0
        assert before['imaginebot_model_swaps_total{worker="cpu"}'] == 0  # loaded by the test
        assert before['imaginebot_worker_up{worker="cpu"}'] == 1

        # One grid, admitted as the Discord layer times it; one command refused.
        admitted = asyncio.ensure_future(service.jobs.imagine(ALICE, "a fox --steps 2"))
        metrics.time_admission(admitted)
        parent = await finished(service, (await admitted).id)
        refused = asyncio.ensure_future(service.jobs.imagine(ALICE, "a fox --steps 0"))
        metrics.time_admission(refused)
        with pytest.raises(BadParameter):
            await refused
        samples = await eventually(port, 'imaginebot_images_total{kind="imagine"}', 4)
        assert samples['imaginebot_admission_seconds_count{outcome="admitted"}'] == 1
        assert samples['imaginebot_admission_seconds_count{outcome="refused"}'] == 1
        assert samples['imaginebot_job_latency_seconds_count{status="done"}'] == 1
        assert samples['imaginebot_job_run_seconds_count{status="done"}'] == 1
        busy = samples['imaginebot_worker_busy_seconds_total{worker="cpu"}']
        assert busy == service.engine.workers()[0].busy_seconds > 0

        # While the worker is held: an upscale handed to it (not started yet), a fast job
        # and a relax job behind it. Then the upscale fails: its source is gone.
        async with held_worker(service.engine):
            broken = await service.jobs.press(ALICE, Action.UPSCALE, parent.id, 1)
            other = await service.jobs.imagine(BOB, "another fox --steps 2")
            relaxed = await service.jobs.imagine(BOB, "an owl --steps 2 --relax")
            for row in await service.runner.images(parent.id):
                service.storage.image_file(row).unlink()
            waiting = await scrape(port)
            assert waiting['imaginebot_queue_length{mode="fast"}'] == 2
            assert waiting['imaginebot_queue_length{mode="relax"}'] == 1
        assert (await service.runner.wait(broken.id)).status == "failed"
        await finished(service, other.id)
        await finished(service, relaxed.id)
        samples = await eventually(port, 'imaginebot_images_total{kind="imagine"}', 12)
        assert samples['imaginebot_job_failures_total{reason="source_gone"}'] == 1
        assert sum(samples[f'imaginebot_job_failures_total{{reason="{r}"}}'] for r in REASONS) == 1
        assert samples['imaginebot_job_latency_seconds_count{status="failed"}'] == 1
        assert samples['imaginebot_job_latency_seconds_count{status="done"}'] == 3
        assert samples['imaginebot_queue_length{mode="fast"}'] == 0
        assert samples['imaginebot_queue_length{mode="relax"}'] == 0
        assert 'imaginebot_images_total{kind="upscale"}' not in samples
    finally:
        await server.cleanup()


async def test_discord_errors_are_counted_by_kind_and_status(make_services):
    """The trace the Discord client's session gets, on a real aiohttp session: an error
    answer by its status, a refused connection, a success not at all."""
    service = await make_services(started=False)
    metrics = Metrics(service)
    server = await serve_metrics(metrics, "127.0.0.1", 0)
    port = server.addresses[0][1]
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        refused = closed.getsockname()[1]
        try:
            async with aiohttp.ClientSession(trace_configs=[metrics.discord_trace()]) as session:
                for path in ("/metrics", "/nowhere", "/nowhere"):
                    async with session.get(f"http://127.0.0.1:{port}{path}"):
                        pass
                with pytest.raises(aiohttp.ClientConnectionError):
                    await session.get(f"http://127.0.0.1:{refused}/")
            samples = await scrape(port)
        finally:
            await server.cleanup()
    errors = {k: v for k, v in samples.items() if k.startswith("imaginebot_discord_errors_total")}
    assert errors == {
        'imaginebot_discord_errors_total{kind="http",status="404"}': 2,
        'imaginebot_discord_errors_total{kind="connection",status=""}': 1,
    }


def test_failure_reasons_are_a_fixed_set():
    """Every reason the runner writes has its label; any other text is "other"."""
    written = {
        failure_reason(ModelLoadFailed("x")): "model_load",
        failure_reason(FileNotFoundError(2, "gone", "/srv/x.png")): "source_gone",
        failure_reason(MemoryError()): "out_of_memory",
        failure_reason(ValueError("bad")): "generator_error",
        "interrupted twice while running; not retried": "interrupted",
        "the job's settings are not valid": "invalid",
        "the model it was made with (tiny) is no longer offered": "model_gone",
    }
    assert {text: failure_kind(text) for text in written} == written
    assert failure_kind("a prompt a user wrote") == failure_kind(None) == "other"
    assert set(written.values()) < set(REASONS)

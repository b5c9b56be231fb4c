"""Prometheus metrics (``METRICS_PORT``): what the bot does, for a server owner's Prometheus.

Fed by what the other parts already tell: the runner's job events (latency, images,
failures), the engine's workers (busy seconds, model swaps), the job rows (the queue by
mode), and the Discord layer (each command's admission, timed where it is awaited; every
error answer from Discord, through an aiohttp trace on discord.py's own session). Served
by an aiohttp server on the event loop, so that a scrape reads the engine and the database
where they live, at the moment of the scrape. Each bot has its own ``CollectorRegistry``
(none global). Labels are bounded: no user, server, prompt or error text becomes one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from types import SimpleNamespace

import aiohttp
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.settings import Settings, SettingsError
from core.errors import UserError
from core.model import EventKind, Job, JobEvent, JobStatus
from core.services import Services
from engine import WorkerState

logger = logging.getLogger(__name__)

MODES = ("fast", "relax")
ADMISSION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
JOB_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# A failed job's reason, by how the runner's short reasons (core.runner.failure_reason and
# the few it writes itself) begin; any other text is "other". Never the text itself.
FAILURE_REASONS = {
    "its model could not be loaded": "model_load",
    "the source image is no longer kept": "source_gone",
    "the gpu ran out of memory": "out_of_memory",
    "the image generator hit an error": "generator_error",
    "interrupted twice": "interrupted",
    "the job's settings are not valid": "invalid",
    "the job's recipe is not valid": "invalid",
    "the model it was made with": "model_gone",
    "the lora it was made with": "model_gone",
    "the video model it was made with": "model_gone",
}
REASONS = (*dict.fromkeys(FAILURE_REASONS.values()), "other")


def failure_kind(error: str | None) -> str:
    """The bounded reason label of a failed job's error text."""
    text = (error or "").strip().lower()
    kinds = (kind for start, kind in FAILURE_REASONS.items() if text.startswith(start))
    return next(kinds, "other")


class Metrics:
    """The bot's metrics in a registry of their own; ``render()`` is a scrape."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.registry = registry = CollectorRegistry()
        self.queue = Gauge(
            "imaginebot_queue_length",
            "Jobs waiting to start, by mode (fast or relax).",
            ["mode"],
            registry=registry,
        )
        self.admission = Histogram(
            "imaginebot_admission_seconds",
            "Time to admit a command (checks, then the committed job rows) or refuse it.",
            ["outcome"],
            buckets=ADMISSION_BUCKETS,
            registry=registry,
        )
        self.job_latency = Histogram(
            "imaginebot_job_latency_seconds",
            "Time from a job's queueing to its end, by final status.",
            ["status"],
            buckets=JOB_BUCKETS,
            registry=registry,
        )
        self.job_run = Histogram(
            "imaginebot_job_run_seconds",
            "Time from a job's start on a worker to its end, by final status.",
            ["status"],
            buckets=JOB_BUCKETS,
            registry=registry,
        )
        self.images = Counter(
            "imaginebot_images",
            "Images made (a clip counts as one), by job kind; rate() is images per second.",
            ["kind"],
            registry=registry,
        )
        self.failures = Counter(
            "imaginebot_job_failures",
            "Jobs that failed, by reason.",
            ["reason"],
            registry=registry,
        )
        self.discord_errors = Counter(
            "imaginebot_discord_errors",
            "Discord API requests answered with an error (kind http, by status) or that "
            "failed (kind connection or timeout), retried ones included.",
            ["kind", "status"],
            registry=registry,
        )
        self._workers = _WorkerCollector()
        registry.register(self._workers)
        for mode in MODES:
            self.queue.labels(mode)
        for reason in REASONS:
            self.failures.labels(reason)
        services.runner.add_listener(self.on_event)

    async def render(self) -> bytes:
        """A scrape: the queue and the workers read now, then every metric as text."""
        queued = await self.services.storage.queued_by_mode()
        for mode in MODES:
            self.queue.labels(mode).set(queued.get(mode, 0))
        self._workers.states = self.services.engine.workers()
        return generate_latest(self.registry)

    async def on_event(self, event: JobEvent) -> None:
        """The runner's listener: a finished job's latency, images or failure."""
        if event.kind is not EventKind.FINISHED:
            return
        job = event.job
        status = str(job.status)
        if (waited := _seconds(job.created_at, job.finished_at)) is not None:
            self.job_latency.labels(status).observe(waited)
        if (ran := _seconds(job.started_at, job.finished_at)) is not None:
            self.job_run.labels(status).observe(ran)
        if job.status is JobStatus.DONE:
            made = len(await self.services.runner.images(job.id))
            self.images.labels(str(job.kind)).inc(made)
        elif job.status is JobStatus.FAILED:
            self.failures.labels(failure_kind(job.error)).inc()

    def time_admission(self, admission: asyncio.Future[Job | list[Job]]) -> None:
        """Time a command's admission from now until ``admission`` is done (the Discord
        layer's, for each command that makes jobs): admitted, refused (a ``UserError``,
        what users are told) or failed."""
        started = time.perf_counter()

        def done(future: asyncio.Future) -> None:
            if future.cancelled():
                return
            error = future.exception()
            outcome = "admitted" if error is None else "failed"
            if isinstance(error, UserError):
                outcome = "refused"
            self.admission.labels(outcome).observe(time.perf_counter() - started)

        admission.add_done_callback(done)

    def discord_trace(self) -> aiohttp.TraceConfig:
        """The trace for discord.py's HTTP session (``http_trace``): counts its errors."""
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._on_response)
        trace.on_request_exception.append(self._on_request_error)
        return trace

    async def _on_response(
        self, _session: object, _context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        status = params.response.status
        if 400 <= status <= 599:
            self.discord_errors.labels("http", str(status)).inc()

    async def _on_request_error(
        self,
        _session: object,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        if isinstance(params.exception, TimeoutError):
            self.discord_errors.labels("timeout", "").inc()
        elif isinstance(params.exception, aiohttp.ClientError):
            self.discord_errors.labels("connection", "").inc()


class _WorkerCollector(Collector):
    """Each worker's counters as the engine last told them (read at each scrape)."""

    def __init__(self) -> None:
        self.states: list[WorkerState] = []

    def describe(self) -> list[Metric]:
        return list(self._families([]))

    def collect(self) -> Iterator[Metric]:
        return self._families(self.states)

    @staticmethod
    def _families(states: list[WorkerState]) -> Iterator[Metric]:
        busy = CounterMetricFamily(
            "imaginebot_worker_busy_seconds",
            "Seconds each worker spent in pipeline calls; rate() is its busy fraction.",
            labels=["worker"],
        )
        swaps = CounterMetricFamily(
            "imaginebot_model_swaps",
            "Models brought onto each worker's device (the loads at start included).",
            labels=["worker"],
        )
        up = GaugeMetricFamily(
            "imaginebot_worker_up", "1 while a worker serves, 0 once it is lost.", labels=["worker"]
        )
        for state in states:
            busy.add_metric([state.name], state.busy_seconds)
            swaps.add_metric([state.name], state.swaps)
            up.add_metric([state.name], 1.0 if state.up else 0.0)
        yield from (busy, swaps, up)


def _seconds(start: str | None, end: str | None) -> float | None:
    """Seconds between two of a job row's times (None when one is not set)."""
    if start is None or end is None:
        return None
    return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())


@contextlib.asynccontextmanager
async def open_metrics(
    settings: Settings, services: Services, *, serve: bool = True
) -> AsyncIterator[Metrics | None]:
    """The bot's metrics, served on ``METRICS_HOST:METRICS_PORT`` until the end of the block;
    None (and nothing served) when ``METRICS_PORT`` is not set or ``serve`` is False (the
    CLI's). A port that cannot be listened on stops the bot, naming the setting."""
    if not serve or settings.metrics_port is None:
        yield None
        return
    metrics = Metrics(services)
    host, port = settings.metrics_host, settings.metrics_port
    try:
        server = await serve_metrics(metrics, host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingsError(
            f"METRICS_PORT={port}: cannot serve metrics on {host}:{port} ({reason})"
        ) from exc
    logger.info("metrics served on http://%s/metrics", _address(server))
    try:
        yield metrics
    finally:
        await server.cleanup()


async def serve_metrics(metrics: Metrics, host: str, port: int) -> web.AppRunner:
    """Serve ``metrics`` at ``/metrics`` on ``host:port`` (0: a free port; the runner's
    ``addresses`` say which); ``cleanup()`` stops it."""

    async def scrape(_request: web.Request) -> web.Response:
        body = await metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def _address(runner: web.AppRunner) -> str:
    host, port = runner.addresses[0][:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

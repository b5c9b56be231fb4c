"""``imaginebot bench``: the engine and the whole job path against the bare pipeline.

Measured side by side in one run, on one loaded model:

- the bare pipeline: the same pipeline called one after another with 4 images per call;
- the job path with batching off, then on: N jobs from U users submitted at once through
  the service, the fair scheduler, the worker, grid and PNG encoding and storage (no
  Discord), timed from the first submit to the last job done.

The bare pipeline runs before and after the job paths and its mean is the baseline, so a
machine that warms up or slows down during the run does not tilt the ratios.

And admission: how long ``/imagine`` takes from the command to the committed job row
(parse, ban, quota, limits, blocked words against a list of 500, the insert), for a burst
of 30 commands from 10 users at once while the worker runs a job: what Discord's 3 s
must cover before the bot answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.service import JobEvent, Requester, Service
from engine import Engine, EngineStats, default_batch_images
from engine.model import LoadedModel
from storage.db import Storage

IMAGES_PER_CALL = 4


@dataclass
class BenchOptions:
    """What to measure."""

    model: str | None = None
    arch: str | None = None
    size: tuple[int, int] | None = None
    steps: int | None = None
    jobs: int = 8
    users: int = 4
    device: str = "auto"
    max_batch_images: int | None = None


@dataclass
class Phase:
    """One measured phase."""

    name: str
    images: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    peak_bytes: int | None = None
    pipeline_calls: int | None = None

    @property
    def images_per_second(self) -> float:
        """Throughput."""
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, fraction: float) -> float | None:
        """Latency percentile (nearest rank), seconds."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


ADMISSION_COMMANDS = 30
ADMISSION_USERS = 10
ADMISSION_GUILD = 1


async def admission(
    engine: Engine,
    steps: int,
    data_dir: Path,
    *,
    commands: int = ADMISSION_COMMANDS,
    users: int = ADMISSION_USERS,
) -> dict[str, Any]:
    """Milliseconds from ``Service.imagine`` called to the job row committed, for
    ``commands`` commands from ``users`` members sent at once, with the worker busy on a
    long job and the server blocking 500 words (as members, with quotas and limits)."""
    from devtools.filter_bench import blocked_entries

    async with (
        Storage(data_dir) as storage,
        Service(storage, engine, max_steps=max(50, steps * 20), max_queue=commands + 1) as service,
    ):
        for entry in blocked_entries(500):
            await storage.add_blocked_word(ADMISSION_GUILD, entry, 1)
        started = asyncio.Event()

        async def on_event(event: JobEvent) -> None:
            if event.kind == "started":
                started.set()

        service.add_listener(on_event)
        busy = await service.imagine(
            Requester(user_id=1, guild_id=ADMISSION_GUILD, channel_id=1, is_owner=True),
            f"the job that keeps the worker busy --steps {max(50, steps * 20)}",
        )
        await started.wait()
        prompt = "a lighthouse on a cliff at dusk, oil painting, dramatic sky --ar 3:2 --no people"

        async def one(index: int) -> float:
            who = Requester(user_id=100 + index % users, guild_id=ADMISSION_GUILD, channel_id=1)
            begin = time.perf_counter()
            await service.imagine(who, f"{prompt} --seed {index}")
            return (time.perf_counter() - begin) * 1000

        times = await asyncio.gather(*(one(index) for index in range(commands)))
        for job in await storage.jobs_with_status("queued", "running", scope=ADMISSION_GUILD):
            engine.cancel(job.id)
        engine.cancel(busy.id)
        await service.wait(busy.id)
    ordered = sorted(times)

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]

    return {
        "commands": commands,
        "users": users,
        "blocked_words": 500,
        "p50_ms": round(rank(0.5), 2),
        "p99_ms": round(rank(0.99), 2),
        "max_ms": round(ordered[-1], 2),
    }


def load_for_bench(options: BenchOptions) -> LoadedModel:
    """The model to measure: a folder or hub id, or a random full-size architecture."""
    from engine.model import load_model, pick_device, pick_dtype, wrap_pipeline

    if options.arch:
        from devtools.arch import build_arch_pipeline

        device = pick_device(options.device)
        pipe = build_arch_pipeline(options.arch, dtype=pick_dtype(device), device=device)  # type: ignore[arg-type]
        return wrap_pipeline(pipe, f"random-{options.arch}", device)
    if not options.model:
        raise ValueError("give --model DIR (or a hub id) or --arch")
    return load_model(options.model, options.device)


def _with_native(model: LoadedModel, size: tuple[int, int] | None) -> LoadedModel:
    if size is None:
        return model
    native = round(math.sqrt(size[0] * size[1]))
    return dataclasses.replace(
        model, defaults=dataclasses.replace(model.defaults, native_size=native)
    )


def _reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: str) -> int:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated())
    # Linux reports the peak resident set in KiB; it only ever grows over the run.
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def bare_pipeline(
    model: LoadedModel, width: int, height: int, steps: int, guidance: float, calls: int
) -> Phase:
    """The pipeline alone, called sequentially with 4 images per call."""
    import torch

    _reset_peak(model.device)
    started = time.perf_counter()
    with torch.inference_mode():
        for call in range(calls):
            generators = [
                torch.Generator("cpu").manual_seed(call * IMAGES_PER_CALL + k)
                for k in range(IMAGES_PER_CALL)
            ]
            model.text2img(
                prompt=[f"bench prompt {call}"] * IMAGES_PER_CALL,
                width=width,
                height=height,
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=generators,
                output_type="pil",
            )
    seconds = time.perf_counter() - started
    return Phase(
        "bare",
        calls * IMAGES_PER_CALL,
        seconds,
        peak_bytes=_peak(model.device),
        pipeline_calls=calls,
    )


async def job_path(
    engine: Engine, options: BenchOptions, steps: int, *, batching: bool, data_dir: Path
) -> tuple[Phase, tuple[int, int]]:
    """N jobs from U users submitted at once through service, scheduler, worker, storage."""
    model = engine.model
    engine.batching = batching
    engine.stats = EngineStats()
    aspect = ""
    if options.size:
        w, h = options.size
        divisor = math.gcd(w, h)
        aspect = f" --ar {w // divisor}:{h // divisor}"
    finished_at: dict[int, float] = {}

    async def on_event(event: JobEvent) -> None:
        if event.kind == "finished":
            finished_at[event.job.id] = time.perf_counter()

    _reset_peak(model.device)
    async with (
        Storage(data_dir) as storage,
        Service(
            storage,
            engine,
            max_steps=max(50, steps),
            max_queued_per_user=options.jobs,
            max_queue=options.jobs,
        ) as service,
    ):
        service.add_listener(on_event)
        started = time.perf_counter()
        submitted: dict[int, float] = {}
        jobs = []
        for index in range(options.jobs):
            # Measured jobs are not counted against a daily quota, here or globally.
            who = Requester(
                user_id=1000 + index % options.users,
                guild_id=1,
                channel_id=1,
                is_admin=True,
                is_owner=True,
            )
            prompt = f"bench prompt {index} --seed {index * 4} --steps {steps}{aspect}"
            job = await service.imagine(who, prompt)
            submitted[job.id] = time.perf_counter()
            jobs.append(job)
        finals = await asyncio.gather(*(service.wait(job.id) for job in jobs))
        await asyncio.sleep(0)  # let the last "finished" events run
        failed = [f for f in finals if f.status != "done"]
        if failed:
            first = failed[0]
            raise RuntimeError(
                f"job {first.id} {first.status}: {first.error} (traceback: see the log)"
            )
        seconds = max(finished_at.values()) - started
        phase = Phase(
            "batching on" if batching else "batching off",
            sum(int(f.params["num_images"]) for f in finals),
            seconds,
            latencies=[finished_at[job.id] - submitted[job.id] for job in jobs],
            peak_bytes=_peak(model.device),
            pipeline_calls=engine.stats.batches,
        )
        size = (int(finals[0].params["width"]), int(finals[0].params["height"]))
    return phase, size


async def run_bench(options: BenchOptions) -> dict[str, Any]:
    """Run every phase and return the report.

    One engine serves every phase, and the bare calls run on its worker thread too:
    torch is only ever called from that one thread, as in the bot (several threads
    calling it make OpenMP's thread teams fight over the cores)."""
    model = _with_native(await asyncio.to_thread(load_for_bench, options), options.size)
    steps = options.steps or model.defaults.steps
    guidance = model.defaults.guidance
    max_batch = options.max_batch_images or default_batch_images(model.device)
    calls = options.jobs
    async with Engine(model, max_batch_images=max_batch) as engine:
        with tempfile.TemporaryDirectory(prefix="imaginebot-bench-") as tmp:
            # The job path decides the size (multiples of 64 near the asked one); the
            # bare pipeline then makes images of exactly that size.
            _, size = await job_path(
                engine,
                dataclasses.replace(options, jobs=1, users=1),
                steps,
                batching=False,
                data_dir=Path(tmp) / "warm-up",
            )

            def bare() -> Phase:
                return bare_pipeline(model, *size, steps, guidance, calls)

            before = await engine.run_on_worker(bare)
            off, _ = await job_path(
                engine, options, steps, batching=False, data_dir=Path(tmp) / "off"
            )
            on, _ = await job_path(engine, options, steps, batching=True, data_dir=Path(tmp) / "on")
            admitted = await admission(engine, steps, Path(tmp) / "admission")
            after = await engine.run_on_worker(bare)
    bare_rate = statistics.mean([before.images_per_second, after.images_per_second])
    phases = {"batching_off": off, "batching_on": on}
    return {
        "model": model.name,
        "family": model.defaults.family,
        "device": model.device,
        "dtype": str(model.dtype).removeprefix("torch."),
        "size": f"{size[0]}x{size[1]}",
        "steps": steps,
        "guidance": guidance,
        "jobs": options.jobs,
        "users": options.users,
        "max_batch_images": max_batch,
        "bare": {
            "images_per_second": bare_rate,
            "before": before.images_per_second,
            "after": after.images_per_second,
            "seconds_per_call": (before.seconds + after.seconds) / (2 * calls),
            "peak_bytes": max(before.peak_bytes or 0, after.peak_bytes or 0),
        },
        **{
            key: {
                "images_per_second": phase.images_per_second,
                "ratio_to_bare": phase.images_per_second / bare_rate if bare_rate else None,
                "latency_p50_s": phase.percentile(0.5),
                "latency_p95_s": phase.percentile(0.95),
                "pipeline_calls": phase.pipeline_calls,
                "peak_bytes": phase.peak_bytes,
            }
            for key, phase in phases.items()
        },
        "admission": admitted,
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as a small table."""

    def mib(value: int | None) -> str:
        return f"{value / 2**20:,.0f}" if value else "-"

    def seconds(value: float | None) -> str:
        return f"{value:.2f}" if value is not None else "-"

    bare = report["bare"]
    lines = [
        f"imaginebot bench: {report['model']} ({report['family']}, {report['dtype']}) on "
        f"{report['device']}, {report['size']}, {report['steps']} steps, "
        f"{report['jobs']} jobs from {report['users']} users, "
        f"batches of up to {report['max_batch_images']} images",
        f"one bare call (4 images): {bare['seconds_per_call']:.3f} s",
        "",
        f"{'':26}{'images/s':>10}{'vs bare':>9}{'p50 s':>8}{'p95 s':>8}{'calls':>7}"
        f"{'peak MiB':>10}",
        f"{'bare pipeline, 4 per call':26}{bare['images_per_second']:>10.2f}{1.0:>9.2f}"
        f"{'-':>8}{'-':>8}{report['jobs'] * 2:>7}{mib(bare['peak_bytes']):>10}",
    ]
    for key, label in (
        ("batching_off", "job path, batching off"),
        ("batching_on", "job path, batching on"),
    ):
        phase = report[key]
        lines.append(
            f"{label:26}{phase['images_per_second']:>10.2f}{phase['ratio_to_bare']:>9.2f}"
            f"{seconds(phase['latency_p50_s']):>8}{seconds(phase['latency_p95_s']):>8}"
            f"{phase['pipeline_calls']:>7}{mib(phase['peak_bytes']):>10}"
        )
    lines.append(
        f"(bare pipeline before/after the job paths: {bare['before']:.2f} / "
        f"{bare['after']:.2f} images/s)"
    )
    if "admission" in report:
        adm = report["admission"]
        lines.append(
            f"admission, {adm['commands']} commands from {adm['users']} users at once with the "
            f"worker busy: p50 {adm['p50_ms']:.1f} ms, p99 {adm['p99_ms']:.1f} ms, "
            f"max {adm['max_ms']:.1f} ms"
        )
    return "\n".join(lines)


def print_report(report: dict[str, Any], as_json: bool) -> None:
    """Print for people or for tools."""
    print(json.dumps(report, indent=2) if as_json else format_report(report))

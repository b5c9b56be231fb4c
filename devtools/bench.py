"""``imaginebot bench``: the engine and the whole job path against the bare pipeline.

Measured side by side in one run, on one loaded model:

- the bare pipeline: the same pipeline called one after another with 4 images per call;
- the job path with batching off, then on: N jobs from U users submitted at once through
  the service, the fair scheduler, the worker, grid and PNG encoding and storage (no
  Discord), timed from the first submit to the last job done.

The phases run in rounds (``--rounds``, 5 by default), each round one run of each job
path, in an order that turns from round to round, and every job-path run between two
bare runs (bare, off, bare, on, bare, on, bare, ...). Each job-path run is taken against
the mean of the bare runs on either side of it, so a machine that warms up or slows
down during the run does not tilt the ratio; the report gives the median of the rounds
and their spread (lowest and highest).

And admission (:mod:`devtools.admission_bench`): how long ``/imagine`` takes from the
command to the committed job row, for a burst of 30 commands while the worker is busy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.encoders import EncoderPool
from core.limits import Limits
from core.model import EventKind, JobEvent, JobStatus, Requester
from core.services import open_services
from devtools.admission_bench import admission
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
    rounds: int = 5
    ray_address: str = ""  # --engine ray: the cluster to join (empty: a local one)


@dataclass
class Phase:
    """One measured phase."""

    name: str
    images: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    peak_bytes: int | None = None
    pipeline_calls: int | None = None
    worker_busy: float | None = None  # the share of the run the worker was in calls
    gpu_seconds: list[float] = field(default_factory=list)  # each job's, as its row keeps

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


def with_native(model: LoadedModel, size: tuple[int, int] | None) -> LoadedModel:
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
                **model.defaults.call_arguments(),  # as the worker calls it
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
    engine: Engine,
    options: BenchOptions,
    steps: int,
    *,
    batching: bool,
    data_dir: Path,
    encoders: EncoderPool | None = None,
) -> tuple[Phase, tuple[int, int]]:
    """N jobs from U users submitted at once through service, scheduler, worker, storage
    (``encoders``: the pool whose room ``engine`` waits for, as in the bot)."""
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
        if event.kind == EventKind.FINISHED:
            finished_at[event.job.id] = time.perf_counter()

    _reset_peak(model.device)
    async with (
        Storage(data_dir) as storage,
        open_services(
            storage,
            engine,
            Limits(
                max_steps=max(50, steps),
                max_queued_per_user=options.jobs,
                max_queue=options.jobs,
            ),
            encoders,
        ) as service,
    ):
        service.runner.add_listener(on_event)
        calls_before = engine.call_seconds
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
            job = await service.jobs.imagine(who, prompt)
            submitted[job.id] = time.perf_counter()
            jobs.append(job)
        finals = await asyncio.gather(*(service.runner.wait(job.id) for job in jobs))
        await asyncio.sleep(0)  # let the last "finished" events run
        failed = [f for f in finals if f.status != JobStatus.DONE]
        if failed:
            first = failed[0]
            raise RuntimeError(
                f"job {first.id} {first.status}: {first.error} (traceback: see the log)"
            )
        seconds = max(finished_at.values()) - started
        phase = Phase(
            "batching on" if batching else "batching off",
            sum(f.params.num_images for f in finals),
            seconds,
            latencies=[finished_at[job.id] - submitted[job.id] for job in jobs],
            peak_bytes=_peak(model.device),
            pipeline_calls=engine.stats.batches,
            worker_busy=(engine.call_seconds - calls_before) / seconds,
            gpu_seconds=[f.gpu_seconds or 0.0 for f in finals],
        )
        size = (finals[0].params.width, finals[0].params.height)
    return phase, size


async def run_bench(options: BenchOptions) -> dict[str, Any]:
    """Run every phase and return the report.

    One engine serves every phase, and the bare calls run on its worker thread too:
    torch is only ever called from that one thread, as in the bot (several threads
    calling it make OpenMP's thread teams fight over the cores)."""
    model = with_native(await asyncio.to_thread(load_for_bench, options), options.size)
    steps = options.steps or model.defaults.steps
    guidance = model.defaults.guidance
    max_batch = options.max_batch_images or default_batch_images(model.device)
    calls = options.jobs
    rounds: list[dict[str, tuple[Phase, Phase, Phase]]] = []
    bares: list[Phase] = []
    encoders = EncoderPool()  # one for every phase, as the engine is
    engine = Engine(model, max_batch_images=max_batch, room=encoders.wait_for_room)
    async with engine:
        with tempfile.TemporaryDirectory(prefix="imaginebot-bench-") as tmp:
            # The job path decides the size (multiples of 64 near the asked one); the
            # bare pipeline then makes images of exactly that size.
            _, size = await job_path(
                engine,
                dataclasses.replace(options, jobs=1, users=1),
                steps,
                batching=False,
                data_dir=Path(tmp) / "warm-up",
                encoders=encoders,
            )

            def bare(count: int = calls) -> Phase:
                return bare_pipeline(model, *size, steps, guidance, count)

            # The first calls after loading are slower (allocator, kernels): not measured.
            await engine.run_on_worker(lambda: bare(IMAGES_PER_CALL))

            async def measure(name: str, number: int) -> Phase:
                if name == "bare":
                    return await engine.run_on_worker(bare)
                phase, _ = await job_path(
                    engine,
                    options,
                    steps,
                    batching=name == "batching_on",
                    data_dir=Path(tmp) / f"{name}-{number}",
                    encoders=encoders,
                )
                return phase

            # bare, off, bare, on, bare, on, bare, off, bare, ...: every job-path phase
            # between two bare runs, the order of the two job paths turning each round.
            bares.append(await measure("bare", 0))
            for number in range(max(1, options.rounds)):
                order = ["batching_off", "batching_on"][:: 1 if number % 2 == 0 else -1]
                measured: dict[str, tuple[Phase, Phase, Phase]] = {}
                for name in order:
                    before = bares[-1]
                    phase = await measure(name, number)
                    bares.append(await measure("bare", number))
                    measured[name] = (before, phase, bares[-1])
                rounds.append(measured)
            admitted = await admission(engine, steps, Path(tmp) / "admission", encoders=encoders)
    await asyncio.to_thread(encoders.close)
    report: dict[str, Any] = {
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
        "rounds": len(rounds),
        "bare": {
            "images_per_second": statistics.median(b.images_per_second for b in bares),
            "runs": [b.images_per_second for b in bares],
            "seconds_per_call": statistics.median(b.seconds for b in bares) / calls,
            "peak_bytes": max(b.peak_bytes or 0 for b in bares),
        },
    }
    for key in ("batching_off", "batching_on"):
        phases = [r[key][1] for r in rounds]
        # Against the mean of the bare runs just before and just after: a machine that
        # speeds up or slows down over the phase tilts both sides alike.
        ratios = [
            phase.images_per_second * 2 / (before.images_per_second + after.images_per_second)
            for before, phase, after in (r[key] for r in rounds)
        ]
        latencies = Phase(key, 0, 0.0, [t for p in phases for t in p.latencies])
        report[key] = {
            "images_per_second": statistics.median(p.images_per_second for p in phases),
            "runs": [p.images_per_second for p in phases],
            "ratio_to_bare": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "ratios": ratios,
            "latency_p50_s": latencies.percentile(0.5),
            "latency_p95_s": latencies.percentile(0.95),
            "pipeline_calls": statistics.median(p.pipeline_calls or 0 for p in phases),
            "worker_busy": statistics.median(p.worker_busy or 0.0 for p in phases),
            "peak_bytes": max(p.peak_bytes or 0 for p in phases),
            # Each job's device seconds as measured and kept on its row (its share of the
            # calls it ran in), beside that run's wall time: the last round's, in order.
            "gpu_seconds": phases[-1].gpu_seconds,
            "wall_seconds": phases[-1].seconds,
            "gpu_seconds_per_job": statistics.median(s for p in phases for s in p.gpu_seconds),
        }
    report["admission"] = admitted
    return report

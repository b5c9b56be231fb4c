"""``imaginebot bench --workers N``: the job path's throughput with one worker and with N.

One copy of the model per worker: one per GPU (``cuda:0`` .. ``cuda:N-1``), or on a CPU
one per core, each worker pinned to its own core with one torch thread, so that N workers
on N cores do not fight over them (the one-worker engine runs the same way on one core:
the ratio is what the other workers add). The same jobs (N jobs from U users, batching
on) go through the service and the fair scheduler to each engine, in rounds that take
turns (1 then N, then N then 1, ...), so that a machine that drifts during the run tilts
neither; the report gives each engine's images/s (median of the rounds) and the median of
the rounds' ratios with their spread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import statistics
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from core.encoders import EncoderPool
from devtools.bench import BenchOptions, job_path, load_for_bench, with_native
from engine import Engine, default_batch_images
from engine.model import LoadedModel, pick_device
from engine.protocols import Room

TARGET = 1.6  # 2 local workers against one, on this project's 2-core machine


def worker_devices(device: str, workers: int) -> list[str]:
    """The device of each worker: one GPU each on CUDA, the CPU otherwise."""
    if not device.startswith("cuda"):
        return [device] * workers
    import torch

    count = torch.cuda.device_count()
    if workers > count:
        raise ValueError(f"--workers {workers} needs {workers} GPUs; {count} visible")
    return [f"cuda:{index}" for index in range(workers)]


def worker_options(devices: list[str]) -> list[dict]:
    """Names, and on a CPU one core and one torch thread per worker."""
    if devices[0] != "cpu":
        return [{"name": device} for device in devices]
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < len(devices):
        raise ValueError(f"{len(devices)} CPU workers need {len(devices)} cores; {len(cores)} here")
    return [
        {"name": f"cpu#{index}", "torch_threads": 1, "cpus": {cores[index]}}
        for index in range(len(devices))
    ]


async def load_copies(options: BenchOptions, devices: list[str]) -> list[LoadedModel]:
    """One copy of the model per device (off the event loop)."""

    def load(on: str) -> LoadedModel:
        return with_native(load_for_bench(dataclasses.replace(options, device=on)), options.size)

    return [await asyncio.to_thread(load, on) for on in devices]


# Builds an engine that waits for ``room`` (its results' hand-off), as the bot's does.
Build = Callable[[Room], Awaitable[Engine]]


async def side_by_side(
    options: BenchOptions, steps: int, builds: dict[str, Build], warm_jobs: int
) -> tuple[dict[str, list[float]], list[float]]:
    """The job path's images/s on the two engines ``builds`` makes (each warmed up first,
    not measured), in rounds that take turns; each round's ratio, second over first."""
    first, second = builds
    runs: dict[str, list[float]] = {key: [] for key in builds}
    ratios = []
    with tempfile.TemporaryDirectory(prefix="imaginebot-scale-") as tmp:

        async def measure(key: str, name: str, jobs: int | None = None) -> float:
            encoders = EncoderPool()
            engine = await builds[key](encoders.wait_for_room)
            run = dataclasses.replace(options, jobs=jobs or options.jobs)
            try:
                async with engine:
                    phase, _ = await job_path(
                        engine,
                        run,
                        steps,
                        batching=True,
                        data_dir=Path(tmp) / name,
                        encoders=encoders,
                    )
            finally:
                await asyncio.to_thread(encoders.close)
            return phase.images_per_second

        for key in builds:  # the first calls of each copy are slower (allocator, kernels)
            await measure(key, f"warm-up-{key}", jobs=warm_jobs)
        for number in range(max(1, options.rounds)):
            rates = {}
            for key in (first, second) if number % 2 == 0 else (second, first):
                rates[key] = await measure(key, f"{key}-{number}")
                runs[key].append(rates[key])
            ratios.append(rates[second] / rates[first])
    return runs, ratios


def _report(
    models: list[LoadedModel],
    devices: list[str],
    options: BenchOptions,
    steps: int,
    max_batch: int,
    runs: dict[str, list[float]],
    ratios: list[float],
    target: tuple[str, float],
) -> dict[str, Any]:
    ratio = statistics.median(ratios)
    report: dict[str, Any] = {
        "model": models[0].name,
        "devices": devices,
        "workers": len(devices),
        "size": options.size and f"{options.size[0]}x{options.size[1]}",
        "steps": steps,
        "jobs": options.jobs,
        "users": options.users,
        "max_batch_images": max_batch,
        "rounds": len(ratios),
        "ratio": ratio,
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "ratios": ratios,
        "targets": {target[0]: ratio >= target[1]} if target[0] else {},
    }
    for key, rates in runs.items():
        report[f"images_per_second_{key}"] = statistics.median(rates)
        report[f"runs_{key}"] = rates
    return report


async def run_scale_bench(options: BenchOptions, workers: int) -> dict[str, Any]:
    """Throughput of the job path with 1 and with ``workers`` workers, side by side."""
    devices = worker_devices(pick_device(options.device), workers)
    models = await load_copies(options, devices)
    steps = options.steps or models[0].defaults.steps
    max_batch = options.max_batch_images or default_batch_images(models[0].device)
    pins = worker_options(devices)

    def build(count: int) -> Build:
        async def make(room: Room) -> Engine:
            return Engine(
                models[:count], max_batch_images=max_batch, worker_options=pins[:count], room=room
            )

        return make

    builds = {"1": build(1), str(workers): build(workers)}
    runs, ratios = await side_by_side(options, steps, builds, warm_jobs=2 * workers)
    target = (f"2 workers >= {TARGET}x one", TARGET) if workers == 2 else ("", 0.0)
    return _report(models, devices, options, steps, max_batch, runs, ratios, target)


RAY_TARGET = 0.8  # the Ray engine against the local one, at the same worker count


async def run_ray_bench(options: BenchOptions, workers: int) -> dict[str, Any]:
    """Throughput of the job path on ``workers`` local workers and on ``workers`` Ray Serve
    replicas of the same model (a local Ray cluster when ``RAY_ADDRESS`` is empty), in
    rounds that take turns: what the Ray hop costs."""
    from engine.ray_engine import deploy, engine_on, shutdown

    if not options.model:
        raise ValueError("--engine ray needs --model (a folder or hub id every replica loads)")
    device = pick_device(options.device)
    devices = worker_devices(device, workers)
    models = await load_copies(options, devices)
    steps = options.steps or models[0].defaults.steps
    max_batch = options.max_batch_images or default_batch_images(models[0].device)
    cpu = device == "cpu"
    handle = await asyncio.to_thread(
        deploy,
        options.model,
        replicas=workers,
        address=options.ray_address,
        device=device,
        gpus=0 if cpu else 1,
        ray_init={"num_cpus": workers, "include_dashboard": False} if cpu else {},
    )

    async def local(room: Room) -> Engine:
        return Engine(
            models, max_batch_images=max_batch, worker_options=worker_options(devices), room=room
        )

    async def remote(room: Room) -> Engine:
        engine = await engine_on(handle, workers, max_batch, room=room)
        # The size asked, as the local models have it (with_native).
        defaults = dataclasses.replace(
            engine.model.defaults, native_size=models[0].defaults.native_size
        )
        engine.models[engine.default_model] = dataclasses.replace(engine.model, defaults=defaults)
        return engine

    try:
        builds = {"local": local, "ray": remote}
        runs, ratios = await side_by_side(options, steps, builds, warm_jobs=2 * workers)
    finally:
        await asyncio.to_thread(shutdown)
    target = (f"ray >= {RAY_TARGET}x local", RAY_TARGET)
    return _report(models, devices, options, steps, max_batch, runs, ratios, target)


def format_ray_report(report: dict[str, Any]) -> str:
    """The Ray report as text."""
    n = report["workers"]
    return "\n".join(
        [
            f"imaginebot bench --engine ray --workers {n}: {report['model']}, "
            f"{report['size'] or 'native size'}, {report['steps']} steps, {report['jobs']} jobs "
            f"from {report['users']} users, median of {report['rounds']} rounds",
            f"  local, {n} workers:  {report['images_per_second_local']:.2f} images/s "
            f"(runs: {', '.join(f'{r:.2f}' for r in report['runs_local'])})",
            f"  ray, {n} replicas:   {report['images_per_second_ray']:.2f} images/s "
            f"(runs: {', '.join(f'{r:.2f}' for r in report['runs_ray'])})",
            f"  ray / local: {report['ratio']:.2f}x "
            f"(rounds {report['ratio_min']:.2f}-{report['ratio_max']:.2f})",
            *(f"  {key}: {'met' if met else 'NOT met'}" for key, met in report["targets"].items()),
        ]
    )


def format_scale_report(report: dict[str, Any]) -> str:
    """The report as text."""
    n = report["workers"]
    return "\n".join(
        [
            f"imaginebot bench --workers {n}: {report['model']} on {', '.join(report['devices'])}, "
            f"{report['size'] or 'native size'}, {report['steps']} steps, {report['jobs']} jobs "
            f"from {report['users']} users, batches of up to {report['max_batch_images']} "
            f"images, median of {report['rounds']} rounds",
            f"  1 worker:  {report['images_per_second_1']:.2f} images/s "
            f"(runs: {', '.join(f'{r:.2f}' for r in report['runs_1'])})",
            f"  {n} workers: {report[f'images_per_second_{n}']:.2f} images/s "
            f"(runs: {', '.join(f'{r:.2f}' for r in report[f'runs_{n}'])})",
            f"  {n} workers / 1: {report['ratio']:.2f}x "
            f"(rounds {report['ratio_min']:.2f}-{report['ratio_max']:.2f})",
            *(f"  {key}: {'met' if met else 'NOT met'}" for key, met in report["targets"].items()),
        ]
    )

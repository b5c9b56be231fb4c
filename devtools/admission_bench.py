"""Admission under load, for ``imaginebot bench``: how long ``/imagine`` takes from the
command to the committed job row (parse, ban, quota, limits, blocked words against a list
of 500, the insert), for a burst of 30 commands from 10 users at once while the worker
runs a job: what Discord's 3 s must cover before the bot answers."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

from core.encoders import EncoderPool
from core.limits import Limits
from core.model import EventKind, JobEvent, JobStatus, Requester
from core.services import open_services
from engine import Engine
from storage.db import Storage

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
    encoders: EncoderPool | None = None,
) -> dict[str, Any]:
    """Milliseconds from ``Jobs.imagine`` called to the job row committed, for
    ``commands`` commands from ``users`` members sent at once, with the worker busy on a
    long job and the server blocking 500 words (as members, with quotas and limits);
    ``encoders``: the pool whose room ``engine`` waits for, as in the bot."""
    from devtools.filter_bench import blocked_entries

    async with (
        Storage(data_dir) as storage,
        open_services(
            storage,
            engine,
            Limits(max_steps=max(50, steps * 20), max_queue=commands + 1),
            encoders,
        ) as service,
    ):
        for entry in blocked_entries(500):
            await storage.add_blocked_word(ADMISSION_GUILD, entry, 1)
        started = asyncio.Event()

        async def on_event(event: JobEvent) -> None:
            if event.kind == EventKind.STARTED:
                started.set()

        service.runner.add_listener(on_event)
        busy = await service.jobs.imagine(
            Requester(user_id=1, guild_id=ADMISSION_GUILD, channel_id=1, is_owner=True),
            f"the job that keeps the worker busy --steps {max(50, steps * 20)}",
        )
        await started.wait()
        prompt = "a lighthouse on a cliff at dusk, oil painting, dramatic sky --ar 3:2"
        if engine.model.defaults.negative:  # FLUX.1 takes none: --no is refused there
            prompt += " --no people"

        async def one(index: int) -> float:
            who = Requester(user_id=100 + index % users, guild_id=ADMISSION_GUILD, channel_id=1)
            begin = time.perf_counter()
            await service.jobs.imagine(who, f"{prompt} --seed {index}")
            return (time.perf_counter() - begin) * 1000

        times = await asyncio.gather(*(one(index) for index in range(commands)))
        for job in await storage.jobs_with_status(
            JobStatus.QUEUED, JobStatus.RUNNING, scope=ADMISSION_GUILD
        ):
            engine.cancel(job.id)
        engine.cancel(busy.id)
        await service.runner.wait(busy.id)
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

"""``imaginebot bench --scale``: how the bot's member-facing paths, its queue and a restart
behave as a community's data grows to a million jobs.

One database grows through the sizes (10k, 100k, 1M jobs: ``devtools.scale_fill``). At
each size the real services (SQLite through aiosqlite, the engine over the tiny model,
not started, so that nothing runs while the paths are timed) answer, ``CALLS`` times
each after a tenth as many untimed, in the biggest server (a sixth of all jobs, 500
blocked words); the first ``ADMITTED`` jobs admitted stay queued, the others are
cancelled, untimed, once admitted:

- ``admission``: one ``/imagine`` from a member (ban, quotas here and everywhere, fast
  time, limits, blocked words, the insert), members drawn by activity;
- ``history_first`` / ``history_far``: ``/history`` page 1 and the last page of the member
  with most jobs there;
- ``admin_queue``, ``admin_audit`` (page 1 and ``admin_audit_far``, the last), ``info``.

Then, at the largest size, with 1,000 and with 10,000 jobs queued: the scheduler's cost to
take the next batch, one computation of every waiting job's position (what refreshing the
waiting messages costs), and a restart: storage and services opened over the queued jobs
with the engine running, the seconds until the first job runs and until every queued one
is back in the engine. Each size reports p50/p99 in milliseconds; ``growth`` is each
operation's p99 at the largest size over its p99 at the smallest.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import sqlite3
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.encoders import EncoderPool
from core.errors import UserError
from core.limits import Limits
from core.model import Requester
from core.services import open_services
from devtools.scale_fill import Community, fill, guild_id
from engine import Engine
from storage.db import Storage

SIZES = (10_000, 100_000, 1_000_000)
QUEUES = (1_000, 10_000)
CALLS = 1000
ADMITTED = 300  # admitted jobs left queued in the big server (the rest are cancelled)
MEMBER_P99_MS = 50.0  # every member-facing path, at 1M jobs, on the project's 2-core machine
ADMISSION_P99_MS = 100.0
GROWTH = 2.0  # no p99 grows more than this from the smallest size to the largest
RESTART_FIRST_S = 5.0  # a restart with 10,000 queued runs its first job within this
PROMPT = "a lighthouse on a cliff at dusk, oil painting, dramatic sky --ar 3:2 --no people"
# Nothing refuses: the checks all run (counts over the member's day, bans, words), and
# every call ends in the insert.
OPEN_LIMITS = Limits(
    max_queue=1_000_000,
    max_queued_per_user=1_000_000,
    daily_quota=1_000_000,
    global_daily_quota=0,
    fast_minutes_daily=1_000_000.0,
    global_fast_minutes_daily=0,
)
ADMIN = Requester(user_id=1, guild_id=guild_id(1), channel_id=7, is_admin=True)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds of times in seconds."""
    return {
        "p50_ms": round(percentile(values, 0.5) * 1000, 3),
        "p99_ms": round(percentile(values, 0.99) * 1000, 3),
    }


async def timed(call: Callable[[int], Awaitable[object]], calls: int) -> list[float]:
    """Seconds each of ``calls`` awaits of ``call(n)`` took, after a tenth as many untimed
    (the bot's steady state: its pages in SQLite's cache)."""
    for number in range(max(1, calls // 10)):
        await call(number)
    spent = []
    for number in range(calls):
        begin = time.perf_counter()
        await call(number)
        spent.append(time.perf_counter() - begin)
    return spent


def timed_here(call: Callable[[], object], calls: int) -> list[float]:
    """Seconds each of ``calls`` calls of ``call`` took (on the loop, as the bot makes them)."""
    spent = []
    for _ in range(calls):
        begin = time.perf_counter()
        call()
        spent.append(time.perf_counter() - begin)
    return spent


def rss_mb() -> float:
    """This process's resident memory (Linux: VmRSS), in MB."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class FirstBatch:
    """When a worker first took a batch up (the engine's worker hooks, on its thread)."""

    def __init__(self) -> None:
        self.taken = threading.Event()
        self.at = 0.0

    def before_batch(self, items: object) -> None:
        if not self.taken.is_set():
            self.at = time.perf_counter()
            self.taken.set()

    def after_step(self, step: int) -> None:
        pass


class Bench:
    """One run: the database, the tiny model, the figures."""

    def __init__(self, workdir: Path, model: Any, calls: int) -> None:
        self.data_dir = workdir / "data"
        self.db_path = self.data_dir / "imaginebot.sqlite3"
        self.model = model
        self.calls = calls

    @contextlib.asynccontextmanager
    async def services(self, *, running: bool = False, hooks: Any = None):
        """Storage and services as the bot opens them (the engine first); the engine
        runs jobs only when ``running`` (else they stay queued)."""
        pool = EncoderPool()
        engine = Engine(self.model, room=pool.wait_for_room, hooks=hooks)
        try:
            async with contextlib.AsyncExitStack() as stack:
                storage = await stack.enter_async_context(Storage(self.data_dir))
                if running:
                    await stack.enter_async_context(engine)
                yield await stack.enter_async_context(
                    open_services(storage, engine, OPEN_LIMITS, pool)
                )
        finally:
            await asyncio.to_thread(pool.close)

    def members(self, jobs: int) -> list[int]:
        """The big server's members, drawn by activity as its traffic comes."""
        community = Community(jobs)
        rng = random.Random(jobs)
        drawn: list[int] = []
        while len(drawn) < ADMITTED + ADMITTED // 10:
            rank, server = community.job_author()
            if server == 1:
                drawn.append(community.member_id(rank))
        rng.shuffle(drawn)
        return drawn

    async def paths(self, jobs: int) -> dict[str, list[float]]:
        """The member-facing paths at this size, ``calls`` times each."""
        members = self.members(jobs)
        async with self.services() as service:
            rows = await service.storage.db.execute_fetchall(
                "SELECT user_id, jobs FROM history_counts WHERE guild_key = ?"
                " ORDER BY jobs DESC LIMIT 1",
                (guild_id(1),),
            )
            busiest, their_jobs = rows[0]
            reader = Requester(user_id=busiest, guild_id=guild_id(1), channel_id=7)
            last_page = max(1, math.ceil(their_jobs / 10))
            _, _, audit_pages = await service.moderation.audit(ADMIN)

            def member(n: int) -> Requester:
                return Requester(members[n % len(members)], guild_id(1), channel_id=7)

            async def answered(call: Awaitable[object]) -> None:
                # A banned member is refused: that answer is the path's work too.
                with contextlib.suppress(UserError):
                    await call

            async def admit(n: int) -> None:
                # The first ADMITTED stay queued (a burst in the big server, for /admin
                # queue); the others are cancelled once timed (untimed), so that the
                # queue does not grow with the number of calls.
                who = member(n)
                with contextlib.suppress(UserError):  # a banned member's answer
                    begin = time.perf_counter()
                    job = await service.jobs.imagine(who, f"{PROMPT} --seed {n}")
                    admitted.append(time.perf_counter() - begin)
                    if len(admitted) > ADMITTED:
                        await service.jobs.cancel(job.id, who)

            admitted: list[float] = []
            await timed(admit, self.calls)
            times = {
                "admission": admitted[-self.calls :],
                "history_first": await timed(
                    lambda n: service.users.history(reader, 1), self.calls
                ),
                "history_far": await timed(
                    lambda n: service.users.history(reader, last_page), self.calls
                ),
                "admin_queue": await timed(lambda n: service.moderation.queue(ADMIN), self.calls),
                "admin_audit": await timed(lambda n: service.moderation.audit(ADMIN), self.calls),
                "admin_audit_far": await timed(
                    lambda n: service.moderation.audit(ADMIN, audit_pages), self.calls
                ),
                "info": await timed(lambda n: answered(service.users.info(member(n))), self.calls),
            }
        await asyncio.to_thread(self._settle_queued)
        return times

    def _settle_queued(self) -> None:
        """The jobs a size's admission queued end (cancelled, never run), so that the
        next size starts with an empty queue."""
        with contextlib.closing(sqlite3.connect(self.db_path)) as db:
            db.execute(
                "UPDATE jobs SET status = 'cancelled', finished_at = created_at,"
                " delivered_at = created_at WHERE status IN ('queued', 'running')"
            )
            db.commit()

    def _queue(self, count: int) -> None:
        """``count`` jobs queued (from the big server's members, as a burst leaves them)."""
        with contextlib.closing(sqlite3.connect(self.db_path)) as db:
            template = db.execute(
                "SELECT kind, params, recipe, prompt FROM jobs WHERE kind = 'imagine' LIMIT 1"
            ).fetchone()
            now = datetime.now(UTC).isoformat(timespec="milliseconds")
            small = '{"guidance": 5.0, "height": 64, "num_images": 4, "steps": 1, "width": 64}'
            db.executemany(
                "INSERT INTO jobs (kind, user_id, guild_id, channel_id, prompt, params, recipe,"
                " seed, status, created_at, gpu_estimate) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
                " 'queued', ?, 1.0)",
                (
                    (
                        template[0],
                        10**15 + 1 + n % 500,
                        guild_id(1 + n % 40),
                        7,
                        template[3],
                        small,
                        template[2],
                        n,
                        now,
                    )
                    for n in range(count)
                ),
            )
            db.commit()

    async def queue_paths(self, count: int) -> dict[str, Any]:
        """With ``count`` jobs queued: a restart (engine running), then the scheduler's
        next batch and every position (engine held)."""
        await asyncio.to_thread(self._queue, count)
        first = FirstBatch()
        begin = time.perf_counter()
        async with self.services(running=True, hooks=first):
            resumed = time.perf_counter()
            assert await asyncio.to_thread(first.taken.wait, 600), "no job ran"
        restart = {
            "restart_first_job_s": round(first.at - begin, 3),
            "restart_all_resumed_s": round(resumed - begin, 3),
        }
        async with self.services() as service:
            engine = service.engine
            # Each batch taken changes the queue: the positions after it are built anew,
            # as the waiting messages' next refresh finds them. The batch's jobs are queued
            # again (as new submissions), so that every call sees ``count`` waiting.
            batches, positions = [], []
            for _ in range(self.calls):
                begin = time.perf_counter()
                batch = engine.next_batch()
                batches.append(time.perf_counter() - begin)
                for pending in batch:
                    engine.submit(pending.spec)
                positions += timed_here(engine.positions, 1)
            held = engine.queue_length
        await asyncio.to_thread(self._settle_queued)
        return {
            "queued": count,
            "held": held,
            **restart,
            "positions": summary(positions),
            "next_batch": summary(batches),
        }


async def run_data_bench(
    sizes: tuple[int, ...] = SIZES,
    calls: int = CALLS,
    queues: tuple[int, ...] = QUEUES,
    model: Any = None,
) -> dict[str, Any]:
    """The whole benchmark (see the module's docstring); ``model``: a loaded model to run
    the restart's jobs on (None: the tiny model, written and loaded here)."""
    from devtools.tiny import write_tiny_model
    from engine.model import load_model

    with tempfile.TemporaryDirectory(prefix="imaginebot-scale-") as tmp:
        workdir = Path(tmp)
        if model is None:
            await asyncio.to_thread(write_tiny_model, workdir / "model")
            model = await asyncio.to_thread(load_model, str(workdir / "model"), "cpu")
        bench = Bench(workdir, model, calls)
        async with Storage(bench.data_dir):  # the schema, as the bot makes it
            pass
        entries = []
        for size in sorted(sizes):
            began = time.perf_counter()
            await asyncio.to_thread(fill, bench.db_path, size)
            await asyncio.to_thread(settle_on_disk, bench.db_path)
            filled = time.perf_counter() - began
            times = await bench.paths(size)
            entries.append(
                {
                    "jobs": size,
                    "fill_s": round(filled, 1),
                    "db_bytes": _db_bytes(bench.db_path),
                    "rss_mb": rss_mb(),
                    "p50_ms": {op: summary(spent)["p50_ms"] for op, spent in times.items()},
                    "p99_ms": {op: summary(spent)["p99_ms"] for op, spent in times.items()},
                }
            )
        queue = [await bench.queue_paths(count) for count in sorted(queues)]
    return report(entries, queue, calls)


def settle_on_disk(path: Path) -> None:
    """The fill's writes in the database file and on the disk before anything is timed:
    its WAL checkpointed and the system's dirty pages written back, which would otherwise
    go on under the measurement (a bot's database is not a freshly written gigabyte)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.sync()


def _db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def report(entries: list[dict[str, Any]], queue: list[dict[str, Any]], calls: int) -> dict:
    """The JSON report: the sizes, the growth, the queue, the targets."""
    first, last = entries[0], entries[-1]
    growth = {
        op: round(last["p99_ms"][op] / max(first["p99_ms"][op], 1e-6), 2) for op in last["p99_ms"]
    }
    largest_queue = queue[-1] if queue else {}
    member_p99 = max(v for op, v in last["p99_ms"].items() if op != "admission")
    result: dict[str, Any] = {
        "calls": calls,
        "sizes": entries,
        "growth": growth,
        "queue": queue,
        "restart_first_job_s": largest_queue.get("restart_first_job_s"),
        "restart_all_resumed_s": largest_queue.get("restart_all_resumed_s"),
        "rss_mb": max(entry["rss_mb"] for entry in entries),
        "db_bytes_per_million_jobs": round(last["db_bytes"] * 1_000_000 / last["jobs"]),
        "cpus": os.cpu_count(),
    }
    result["targets"] = {
        f"member-facing p99 < {MEMBER_P99_MS:g} ms at {last['jobs']:,} jobs": member_p99
        < MEMBER_P99_MS,
        f"admission p99 < {ADMISSION_P99_MS:g} ms at {last['jobs']:,} jobs": last["p99_ms"][
            "admission"
        ]
        < ADMISSION_P99_MS,
        f"no p99 grows more than {GROWTH:g}x": max(growth.values()) <= GROWTH,
        f"restart with {largest_queue.get('queued', 0):,} queued: first job < "
        f"{RESTART_FIRST_S:g} s": (largest_queue.get("restart_first_job_s") or math.inf)
        < RESTART_FIRST_S,
    }
    return result

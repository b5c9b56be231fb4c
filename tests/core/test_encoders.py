"""The encoder pool: finished jobs are encoded beside the worker, in a bounded hand-off;
when encoding falls behind, the worker finishes what it holds and waits for room rather
than running ahead, and nothing is lost."""

from __future__ import annotations

import asyncio
import threading

from core.encoders import EncoderPool
from core.model import EventKind, JobEvent, Requester
from tests.core.commits import finished

ALICE = Requester(user_id=101, guild_id=1, channel_id=10)


class GatedPool(EncoderPool):
    """An encoder pool whose encodes wait for a gate the test opens."""

    def __init__(self, workers: int, max_pending: int) -> None:
        super().__init__(workers, max_pending)
        self.gate = threading.Event()
        self.most_pending = 0

    async def run(self, function, *args):  # type: ignore[no-untyped-def]
        def gated(*inner):  # type: ignore[no-untyped-def]
            self.most_pending = max(self.most_pending, self.pending)  # taken up now
            assert self.gate.wait(timeout=60), "the test never opened the gate"
            return function(*inner)

        return await super().run(gated, *args)


async def until(condition) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_the_pool_runs_in_parallel_and_keeps_its_bound():
    pool = EncoderPool(2, max_pending=3)
    inside = threading.Barrier(2, timeout=30)  # two encodes at once, or this times out
    release = threading.Event()

    def encode(value: int) -> int:
        if value < 2:
            inside.wait()
        release.wait(timeout=30)
        return value * 10

    tasks = [asyncio.ensure_future(pool.run(encode, k)) for k in range(6)]
    # Three taken up, the other three wait for room (all six have asked by then).
    await until(lambda: pool.pending == 3 and pool.queued == 3)
    assert pool.pending == 3, "no more than max_pending at once"
    release.set()
    assert await asyncio.gather(*tasks) == [0, 10, 20, 30, 40, 50]
    assert pool.pending == 0
    pool.close()


async def test_the_worker_never_waits_on_an_encode_and_stops_at_the_bound(make_services):
    pool = GatedPool(1, max_pending=1)
    service = await make_services(encoders=pool, max_queued_per_user=10, max_queue=10)
    done_steps: list[int] = []

    async def listen(event: JobEvent) -> None:
        progress = event.progress
        if event.kind == EventKind.PROGRESS and progress and progress.step == progress.total:
            done_steps.append(event.job.id)

    service.runner.add_listener(listen)
    # Different steps: four shapes, four batches (same-shape jobs would fuse into one).
    jobs = [await service.jobs.imagine(ALICE, f"job {k} --steps {2 + k}") for k in range(4)]
    # Job 1's encode is held: the worker still runs job 2 to its end (it does not wait
    # for an encode) ...
    await until(lambda: jobs[1].id in done_steps)
    assert pool.pending == 1
    # ... and then hands out nothing more while the hand-off is full: job 2's images wait
    # for room (the scheduler chose at job 2's last step, before they came), jobs 3 and 4
    # stay queued.
    await until(lambda: pool.queued == 1)
    assert service.engine.queue_length == 2
    assert jobs[2].id not in done_steps and jobs[3].id not in done_steps
    assert service.engine.queue_length == 2 and pool.most_pending == 1
    pool.gate.set()  # encoding catches up: everything finishes, nothing lost
    for job in jobs:
        await finished(service, job.id)
    assert pool.most_pending == 1

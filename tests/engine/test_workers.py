"""Several workers behind one scheduler: fairness and batching hold, no job runs twice,
and a worker that is lost mid-batch gives its batch back once to the others."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import threading
from typing import Any

import numpy as np
import pytest

from engine import Engine, WorkerLost
from engine.types import JobSpec
from tests.engine.test_scheduler import spec as scheduler_spec
from tests.gates import StepGate, gated

DEVICE_LOST = "CUDA error: an illegal memory access was encountered"


def spec(job_id: int, owner: int = 1, **overrides: Any) -> JobSpec:
    """The scheduler tests' job, smaller (64x64) and with its own seed."""
    fields = {"width": 64, "height": 64, "seed": 500 + 10 * job_id, **overrides}
    return scheduler_spec(job_id, owner, **fields)


class Recorded:
    """A pipeline that records each call's prompts under its worker's name, and fails
    its first ``fail`` calls with ``error`` (a lost device, say)."""

    def __init__(
        self, pipeline: Any, name: str, calls: list, fail: int = 0, error: str = ""
    ) -> None:
        self._pipeline, self._name, self._calls = pipeline, name, calls
        self._fail, self._error = fail, error

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._pipeline, attribute)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._calls.append((self._name, tuple(dict.fromkeys(kwargs["prompt"]))))  # per job
        if self._fail > 0:
            self._fail -= 1
            raise RuntimeError(self._error)
        return self._pipeline(*args, **kwargs)


def recorded(model: Any, name: str, calls: list, fail: int = 0, error: str = DEVICE_LOST):
    def wrap(pipeline: Any) -> Recorded:
        return Recorded(pipeline, name, calls, fail, error)

    return dataclasses.replace(
        model,
        text2img=wrap(model.text2img),
        img2img=wrap(model.img2img),
        inpaint=wrap(model.inpaint),
    )


def names(count: int) -> list[dict]:
    return [{"name": f"w{index}"} for index in range(count)]


async def until(condition, what: str) -> None:
    """Until ``condition()`` holds (a state the test waits for, never a lock)."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@contextlib.asynccontextmanager
async def opened(gate: StepGate):
    """The gate is opened when the block ends, whatever happens in it (a failed
    assertion must not leave the workers waiting at it)."""
    try:
        yield
    finally:
        gate.open()


def pixels(output) -> list[np.ndarray]:
    return [np.asarray(image) for image in output.images]


async def alone(model, job: JobSpec) -> list[np.ndarray]:
    async with Engine(model) as engine:
        return pixels(await engine.submit(job))


async def test_two_workers_share_one_fair_queue_and_run_each_job_once(sd_model, sd_model_copy):
    calls: list = []
    gate = StepGate(at_step=1)
    models = [
        gated(recorded(m, f"w{i}", calls), gate) for i, m in enumerate([sd_model, sd_model_copy])
    ]
    async with Engine(models, max_batch_images=8, worker_options=names(2)) as engine, opened(gate):
        # Alice queues three grids, then Bob one: two fit a call (8 images).
        handles = [engine.submit(spec(i, owner)) for i, owner in [(1, 1), (2, 1), (3, 1), (4, 2)]]
        # The fair first two (Alice's 1, Bob's 4) go to one worker, the next two to the
        # other, at once: both run.
        await until(lambda: len(calls) == 2, "both workers took a batch")
        assert sorted(batch for _, batch in calls) == [
            ("prompt 1", "prompt 4"),
            ("prompt 2", "prompt 3"),
        ]
        assert {name for name, _ in calls} == {"w0", "w1"}
        assert engine.positions() == {1: 0, 4: 0, 2: 0, 3: 0}
        late = engine.submit(spec(5, owner=3))  # Carol: waits for the first free worker
        assert engine.position(5) == 1
        gate.open()
        outputs = [await handle for handle in [*handles, late]]
    prompts = [prompt for _, batch in calls for prompt in batch]
    assert sorted(prompts) == [f"prompt {i}" for i in range(1, 6)], "each job ran once"
    assert engine.stats.jobs == 5 and engine.stats.batches == 3
    # The same images whichever worker made them (up to float rounding: torch's thread
    # count, which other tests change, orders its sums).
    expected = await alone(sd_model, spec(3))
    for made, wanted in zip(pixels(outputs[2]), expected, strict=True):
        difference = np.abs(made.astype(int) - wanted.astype(int))
        assert difference.max() <= 3 and difference.mean() < 0.1


async def test_a_lost_worker_gives_its_batch_back_and_the_other_serves(
    sd_model, sd_model_copy, caplog
):
    calls: list = []
    gate = StepGate(at_step=1)
    models = [
        gated(recorded(sd_model, "w0", calls), gate),
        recorded(sd_model_copy, "w1", calls, fail=1),  # its device is lost at its first call
    ]
    caplog.set_level(logging.WARNING)
    async with Engine(models, max_batch_images=4, worker_options=names(2)) as engine, opened(gate):
        first, second = engine.submit(spec(1, owner=1)), engine.submit(spec(2, owner=2))
        await gate.wait_reached()  # w0 holds job 1 at its first step
        await until(lambda: not engine.workers()[1].up, "w1 was lost")
        state = engine.workers()
        assert [w.up for w in state] == [True, False]
        assert state[1].name == "w1" and "illegal memory access" in state[1].error
        assert engine.position(2) == 1, "job 2 waits again, first in line"
        gate.open()
        one, two = await first, await second
    assert sorted(calls) == [("w0", ("prompt 1",)), ("w0", ("prompt 2",)), ("w1", ("prompt 2",))]
    assert len(one.images) == len(two.images) == 4
    expected = await alone(sd_model, spec(2))
    for made, wanted in zip(pixels(two), expected, strict=True):
        assert np.abs(made.astype(int) - wanted.astype(int)).max() <= 3
    assert "worker w1 lost" in caplog.text and "serving with 1 of 2 workers" in caplog.text


async def test_a_job_is_given_back_once_then_fails_and_no_worker_left_runs_nothing(
    sd_model, sd_model_copy, caplog
):
    calls: list = []
    models = [recorded(m, f"w{i}", calls, fail=1) for i, m in enumerate([sd_model, sd_model_copy])]
    caplog.set_level(logging.WARNING)
    engine = Engine(models, worker_options=names(2))
    await engine.start()
    try:
        with pytest.raises(WorkerLost, match="failed twice"):
            await engine.submit(spec(1))
        assert len(calls) == 2 and {name for name, _ in calls} == {"w0", "w1"}
        assert [w.up for w in engine.workers()] == [False, False]
        assert "no worker left" in caplog.text
        waiting = engine.submit(spec(2))  # kept, not run: its row waits for a restart
        await asyncio.sleep(0)
        assert engine.position(2) == 1 and len(calls) == 2
    finally:
        await engine.stop()
    with pytest.raises(asyncio.CancelledError):
        await waiting


class FailsFirstBatch:
    """Worker hooks under which the first batch fails outside any job (a bug between two
    jobs), through the engine's own test seam."""

    def __init__(self) -> None:
        self.failures: list[int] = []

    def before_batch(self, items) -> None:  # type: ignore[no-untyped-def]
        if not self.failures:
            self.failures.append(items[0].spec.job_id)
            raise KeyError("a bug between two jobs")

    def after_step(self, step: int) -> None:
        pass


async def test_a_batch_that_fails_outside_any_job_runs_again_once(sd_model):
    hooks = FailsFirstBatch()
    async with Engine(sd_model, hooks=hooks) as engine:
        output = await engine.submit(spec(1))
        assert engine.workers()[0].up, "a job's trouble is not a lost device"
    assert hooks.failures == [1] and len(output.images) == 4


async def test_cpu_workers_pin_their_own_torch_threads_and_cores(sd_model, sd_model_copy):
    import torch

    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    cores = sorted(os.sched_getaffinity(0))
    before = torch.get_num_threads()
    options = [
        {"name": f"w{i}", "torch_threads": 1, "cpus": {cores[i % len(cores)]}} for i in range(2)
    ]
    async with Engine([sd_model, sd_model_copy], worker_options=options) as engine:
        seen = [
            await engine.run_on_worker(
                lambda: (
                    torch.get_num_threads(),
                    os.sched_getaffinity(0),
                    threading.current_thread().name,
                ),
                index,
            )
            for index in range(2)
        ]
    assert seen == [(1, {cores[i % len(cores)]}, f"worker-w{i}") for i in range(2)]
    assert torch.get_num_threads() == before and os.sched_getaffinity(0) == set(cores)


async def test_a_batch_handed_to_a_worker_already_lost_comes_back_unstarted(sd_model):
    """The scheduler may hand a batch over in the moment the worker is lost (its thread
    has emptied its inbox and ended): it comes back unstarted, never stuck."""
    from engine.faults import Returned
    from engine.handle import JobHandle
    from engine.worker import Worker

    worker = Worker(sd_model, name="gone")  # its thread never runs, as if it had ended
    worker.lost = WorkerLost("gone: CUDA error: device lost")
    handoff = worker.run_batch([JobHandle(spec(1), 0)])
    returned = await asyncio.wait_for(handoff.done, 10)
    assert isinstance(returned, Returned) and returned.retired and not returned.started
    assert handoff.ending.done()
    with pytest.raises(WorkerLost, match="device lost"):
        await asyncio.wait_for(worker.call(lambda: 1), 10)

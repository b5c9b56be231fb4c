"""GPU time per job (engine/gpu_time.py): a fused call's device time split by each job's
share of the work, failed and cancelled runs counted, through the real engine and the
tiny pipeline. No timing is asserted: only the split's arithmetic on what was recorded."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine import Engine, JobCancelled, JobSpec
from engine.gpu_time import DeviceTimer, charge, work_units
from tests.gates import StepGate, gated, held_worker


def spec(job_id: int, images: int, steps: int = 3, **fields) -> JobSpec:
    return JobSpec(job_id, f"a fox {job_id}", "", 64, 64, steps, 7.0, job_id, images, **fields)


def test_work_is_images_steps_and_pixels():
    assert work_units(spec(1, 4)) == pytest.approx(4 * 3 * 64 * 64 / 1e6)
    assert work_units(spec(1, 4), images=1) == pytest.approx(work_units(spec(2, 1)))
    assert work_units(spec(1, 1, steps=10)) == pytest.approx(10 * work_units(spec(2, 1, steps=1)))
    # Image-to-image runs strength of its steps.
    half = spec(1, 1, steps=10, source_image=Path("x.png"), strength=0.5)
    assert work_units(half) == pytest.approx(work_units(spec(2, 1, steps=5)))


def test_a_call_is_split_by_share_of_the_work():
    items = [
        SimpleNamespace(spec=spec(n, images), gpu_seconds=0.0) for n, images in enumerate((1, 2, 4))
    ]
    charge(items, 7.0)
    assert [item.gpu_seconds for item in items] == pytest.approx([1.0, 2.0, 4.0])


def test_the_wall_clock_times_a_cpu_call():
    with DeviceTimer("cpu") as timer:
        sum(range(1000))
    assert timer.seconds > 0


async def test_three_jobs_fused_in_one_call_split_its_time_by_their_images(sd_model):
    """A gated worker holds the queue until three jobs of one shape (1, 2 and 4 images)
    wait: they run as one call, whose recorded time is split 1:2:4."""
    async with Engine(sd_model, max_batch_images=8) as engine:
        async with held_worker(engine):
            handles = [engine.submit(spec(n, images)) for n, images in ((1, 1), (2, 2), (3, 4))]
        outputs = await asyncio.gather(*handles)
    assert [len(output.images) for output in outputs] == [1, 2, 4]
    assert len({output.seconds for output in outputs}) == 1, "one fused call"
    spent = [handle.gpu_seconds for handle in handles]
    total = sum(spent)
    assert total > 0
    assert math.isclose(total, outputs[0].seconds, rel_tol=1e-9), "the call's time, all of it"
    assert [share / total for share in spent] == pytest.approx([1 / 7, 2 / 7, 4 / 7])


async def test_a_cancelled_run_and_a_failed_one_count_what_they_spent(sd_model, tmp_path):
    gate = StepGate(at_step=2)
    async with Engine(gated(sd_model, gate), progress_interval=0) as engine:
        running = engine.submit(spec(1, 4, steps=6))
        await gate.wait_reached()  # in its call, held at step 2
        engine.cancel(1)
        gate.open()
        with pytest.raises(JobCancelled):
            await running  # settled at the cancel: its call stops at its next step
        await running.charged  # the worker is through with it
        assert running.gpu_seconds > 0, "a cancelled run spent its steps"
        never = engine.submit(spec(2, 4))
        assert engine.cancel(2)  # cancelled while waiting: it spent nothing
        with pytest.raises(JobCancelled):
            await never
        assert never.gpu_seconds == 0
        missing = tmp_path / "gone.png"  # its source is read inside the call
        failed = engine.submit(spec(3, 1, source_image=missing, strength=0.5))
        with pytest.raises(FileNotFoundError):
            await failed
        assert failed.gpu_seconds > 0


def test_a_cuda_call_is_timed_by_events_on_its_device(monkeypatch):
    """No GPU here: torch.cuda's events and device context stand in, to check that a
    CUDA call is timed by events recorded on its device around it (their elapsed time,
    not the wall clock), and that a device that failed falls back to the wall clock."""
    import contextlib

    import torch

    seen: list[str] = []

    class Event:
        def __init__(self, enable_timing: bool) -> None:
            assert enable_timing
            self.recorded = False

        def record(self) -> None:
            self.recorded = True
            seen.append(f"record on {current[-1]}")

        def synchronize(self) -> None:
            seen.append("synchronize")

        def elapsed_time(self, end: Event) -> float:
            assert self.recorded and end.recorded
            return 1500.0  # milliseconds, as CUDA says

    current = ["cpu"]

    @contextlib.contextmanager
    def device(name: str):
        current.append(name)
        yield
        current.pop()

    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "device", device)
    with DeviceTimer("cuda:1") as timer:
        seen.append("the call")
    assert timer.seconds == 1.5
    assert seen == ["record on cuda:1", "the call", "record on cuda:1", "synchronize"]

    def lost(self, end):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(Event, "elapsed_time", lost)
    with DeviceTimer("cuda:0") as timer:
        pass
    assert 0 <= timer.seconds < 1.0  # the wall clock of an empty block

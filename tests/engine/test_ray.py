"""``ENGINE=ray``: a local Ray cluster on this CPU with two replicas of the tiny pipeline,
deployed by the product's own code; jobs through the service, progress in order, cancel,
and a replica killed mid-batch. Skipped where Ray is not installed (``.[ray]``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.serve")

from core.limits import Limits
from core.model import Action, JobStatus, Requester
from core.services import open_services
from engine import Engine, JobCancelled, JobStarted, Progress
from engine.ray_engine import APP_NAME, RemoteJobError, deploy, engine_on, shutdown
from engine.ray_replica import EngineReplica, files_of, with_local_files
from engine.types import JobSpec
from storage.db import Storage
from tests.gates import StepGate, gated

ALICE = Requester(user_id=1, guild_id=1, channel_id=1)
BOB = Requester(user_id=2, guild_id=1, channel_id=1)
REPLICAS = 2


@pytest.fixture(scope="module")
def gate_file(tmp_path_factory) -> Path:
    """While this file exists, every replica's pipeline call stops after its first step."""
    return tmp_path_factory.mktemp("ray-gate") / "hold"


@pytest.fixture(scope="module")
def cluster(tiny_model_dirs, gate_file) -> Iterator[str]:
    """A local Ray cluster (2 CPUs) with the deployment of two replicas (held at
    ``gate_file`` while it exists); its model dir."""
    from ray import cloudpickle

    import tests.gates
    from tests.engine import ray_gate

    for module in (ray_gate, tests.gates):  # test code: shipped to the replicas by value
        cloudpickle.register_pickle_by_value(module)
    ray_gate.GatedReplica.gate = str(gate_file)
    model = str(tiny_model_dirs["sd"])
    deploy(
        model,
        replicas=REPLICAS,
        device="cpu",
        gpus=0,
        ray_init={"num_cpus": REPLICAS, "include_dashboard": False, "log_to_driver": False},
        replica=ray_gate.GatedReplica,
    )
    yield model
    shutdown()


@contextlib.contextmanager
def holding(gate_file: Path) -> Iterator[None]:
    """The replicas' calls wait after their first step until the block ends."""
    gate_file.touch()
    try:
        yield
    finally:
        gate_file.unlink(missing_ok=True)


def handle():
    from ray import serve

    return serve.get_app_handle(APP_NAME)  # one per test: handles belong to a loop


def spec(job_id: int, steps: int = 2, **fields) -> JobSpec:
    return JobSpec(job_id, f"prompt {job_id}", "", 64, 64, steps, 7.0, 40 + job_id, **fields)


async def test_jobs_run_on_the_replicas_through_the_service(cluster, sd_model, tmp_path):
    engine = await engine_on(handle(), REPLICAS)
    assert engine.model.name == Path(cluster).name and engine.model.sampler
    assert [w.name for w in engine.workers()] == ["ray#0", "ray#1"]
    async with (
        Storage(tmp_path / "data") as storage,
        engine,
        open_services(storage, engine, Limits()) as services,
    ):
        jobs = [
            await services.jobs.imagine(ALICE, "a fox --steps 2"),
            await services.jobs.imagine(BOB, "an owl --steps 2"),
            await services.jobs.imagine(ALICE, "a hen --steps 2"),
        ]
        done = [await services.runner.wait(job.id) for job in jobs]
        assert [job.status for job in done] == [JobStatus.DONE] * 3
        # A variation: its source image reaches the replica as bytes.
        variation = await services.jobs.press(BOB, Action.VARY_STRONG, jobs[0].id, 1)
        varied = await services.runner.wait(variation.id)
        assert varied.status == JobStatus.DONE, varied.error
        assert len(await services.runner.images(varied.id)) == 4
    # The same image a local worker makes from the same spec (up to float rounding: the
    # replica's torch runs one thread, the local one two).
    async with Engine(sd_model) as local:
        expected = await local.submit(spec(7))
    async with await engine_on(handle(), REPLICAS) as remote:
        made = await remote.submit(spec(7))
    for a, b in zip(made.images, expected.images, strict=True):
        difference = np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int))
        assert difference.max() <= 3 and difference.mean() < 0.1


async def test_progress_arrives_in_order_and_errors_come_back_as_the_jobs_own(cluster, tmp_path):
    async with await engine_on(handle(), REPLICAS) as engine:
        job = engine.submit(spec(1, steps=6))
        events = [event async for event in job.events()]
        output = await job
        broken = engine.submit(spec(2, source_image=Path("/nowhere.png")))  # unreadable here
        with pytest.raises(FileNotFoundError):
            await broken
        garbage = tmp_path / "not-an-image.png"
        garbage.write_bytes(b"not a picture")
        bad = engine.submit(spec(3, source_image=garbage, strength=0.5))
        with pytest.raises(RemoteJobError, match="UnidentifiedImageError"):
            await bad  # the replica's own error for that job, as text
        assert len((await engine.submit(spec(4))).images) == 4, "the others go on"
    assert isinstance(events[0], JobStarted)
    steps = [event.step for event in events if isinstance(event, Progress)]
    assert steps == sorted(steps) and steps[-1] == 6
    assert len(output.images) == 4


async def test_cancel_reaches_the_replica_and_stops_its_call(cluster, tiny_model_dirs):
    # In the replica's own code: a closed stream (what Serve does on a cancel) stops the
    # pipeline at its next step. The call is held after its first step meanwhile.
    gate = StepGate(at_step=1)
    replica = EngineReplica(str(tiny_model_dirs["sd"]), "cpu", progress_interval=0)
    replica.worker.model = gated(replica.model, gate)
    try:
        stream = replica.run_batch([spec(1, steps=8)], {})
        async for event in stream:
            if isinstance(event, Progress):
                break
        await gate.wait_reached()
        closing = asyncio.ensure_future(stream.aclose())  # waits for the worker's call
        await asyncio.sleep(0)
        gate.open()
        await closing
        assert replica.steps_run() == 2, "step 1, then the interrupt at step 2 of 8"
    finally:
        gate.open()
        await replica.worker.stop()


async def test_a_cancel_through_ray_ends_the_job_and_the_next_one_runs(cluster, gate_file):
    async with await engine_on(handle(), REPLICAS) as engine:
        with holding(gate_file):
            held = engine.submit(spec(5, steps=8))
            async for event in held.events():
                if isinstance(event, Progress):  # it waits at the gate now
                    break
            assert engine.cancel(5)
            with pytest.raises(JobCancelled):
                await held
        assert len((await engine.submit(spec(6))).images) == 4


async def test_a_killed_replica_gives_its_batch_to_another(cluster, gate_file, caplog):
    import ray

    caplog.set_level(logging.WARNING)
    async with await engine_on(handle(), REPLICAS) as engine:
        with holding(gate_file):
            job = engine.submit(spec(9, steps=8))
            async for event in job.events():
                if isinstance(event, Progress):  # it waits at the gate now
                    break
            workers = [slot.worker for slot in engine._slots]  # the RayWorkers
            placed = [w.placed[9] for w in workers if 9 in w.placed]
            assert placed and placed[0], "the stream named the replica running it"
            ray.kill(ray.get_actor(placed[0], namespace="serve"), no_restart=True)
        output = await job  # run again, once, on a replica that lives
        assert len(output.images) == 4
        assert all(worker.up for worker in engine.workers()), "Serve replaces the replica"
    assert "a batch's replica failed" in caplog.text and "go back to the queue" in caplog.text


def test_inputs_travel_as_bytes_and_land_in_the_replicas_own_folder(tmp_path):
    source = tmp_path / "bot" / "source.png"
    source.parent.mkdir()
    source.write_bytes(b"\x89PNG fake")
    specs = [spec(1, source_image=source, strength=0.5), spec(2)]
    files = files_of(specs)
    assert files == {str(source): b"\x89PNG fake"}
    here = tmp_path / "replica"
    here.mkdir()
    moved = with_local_files(specs, files, here)
    assert (
        moved[0].source_image.parent == here
        and moved[0].source_image.read_bytes() == files[str(source)]
    )
    assert moved[1].source_image is None

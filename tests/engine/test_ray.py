"""``ENGINE=ray``: a local Ray cluster on this CPU with two replicas of the tiny pipeline,
deployed by the product's own code; jobs through the service, progress in order, cancel,
a replica killed mid-batch, and the cluster's locks (a client without its token refused,
no port that takes a job without it). Skipped where Ray is not installed (``.[ray]``)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.serve")

from core.limits import Limits
from core.model import Action, JobStatus, Requester
from core.services import open_services
from engine import Engine, JobCancelled, JobStarted, Progress, read_clip
from engine.ray_cluster import token_folder
from engine.ray_engine import APP_NAME, RemoteJobError, deploy, engine_on, shutdown
from engine.ray_replica import EngineReplica, files_of, with_local_files
from engine.types import JobSpec
from engine.video import ClipPlan
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
def cluster(tiny_model_dirs, gate_file, tmp_path_factory) -> Iterator[str]:
    """A local Ray cluster (2 CPUs) with the deployment of two replicas (held at
    ``gate_file`` while it exists), the tiny LTX-Video as VIDEO_MODEL; its model dir."""
    from ray import cloudpickle

    import tests.gates
    from devtools.tiny_video import write_tiny_video_model
    from tests.engine import ray_gate

    for module in (ray_gate, tests.gates):  # test code: shipped to the replicas by value
        cloudpickle.register_pickle_by_value(module)
    ray_gate.GatedReplica.gate = str(gate_file)
    model = str(tiny_model_dirs["sd"])
    deploy(  # the product's own settings for its local cluster (no dashboard, a token)
        model,
        replicas=REPLICAS,
        device="cpu",
        gpus=0,
        ray_init={"num_cpus": REPLICAS, "log_to_driver": False},
        replica=ray_gate.GatedReplica,
        models={"default": model, "xl": str(tiny_model_dirs["sdxl"])},  # MODELS
        video=str(write_tiny_video_model(tmp_path_factory.mktemp("ray-video") / "tiny-video")),
    )
    folder = token_folder()
    yield model
    shutdown()
    assert folder is not None and not folder.exists(), "the token goes with its cluster"
    assert "RAY_AUTH_TOKEN_PATH" not in os.environ


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


async def test_jobs_run_on_the_replicas_through_the_service(
    cluster, sd_model, loaded_models, tmp_path
):
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
    # replica's torch runs one thread, the local one two), on each model: every replica
    # serves every model of MODELS.
    async with await engine_on(handle(), REPLICAS) as remote:
        assert sorted(remote.models) == ["default", "xl"]
        assert remote.models["xl"].name == "tiny-sdxl"
        made = await remote.submit(spec(7))
        made_xl = await remote.submit(spec(8, model="xl"))
    for model, job, output in ((sd_model, 7, made), (loaded_models["sdxl"], 8, made_xl)):
        async with Engine(model) as local:
            expected = await local.submit(spec(job))
        for a, b in zip(output.images, expected.images, strict=True):
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
    replica.resident.wrap(lambda model: gated(model, gate))
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


async def test_clips_run_on_the_replicas(cluster, tmp_path):
    """Animate and Extend with ENGINE=ray: the replicas load VIDEO_MODEL when a clip first
    needs it; the start image and the clip being extended travel as bytes."""
    engine = await engine_on(handle(), REPLICAS)
    assert engine.video is not None and engine.video.name == "tiny-video"
    assert (engine.video.frames, engine.video.fps) == (9, 8)  # its clip.json, read there
    async with (
        Storage(tmp_path / "data") as storage,
        engine,
        open_services(storage, engine, Limits(max_upscale_side=512)) as services,
    ):
        grid = await services.jobs.imagine(ALICE, "a kite --steps 2")
        assert (await services.runner.wait(grid.id)).status == JobStatus.DONE
        clip = await services.jobs.press(BOB, Action.ANIMATE_HIGH, grid.id, 1)
        done = await services.runner.wait(clip.id)
        assert done.status == JobStatus.DONE, done.error
        frames, fps = read_clip(storage.clip_path(clip.id).read_bytes())
        assert (len(frames), fps) == (9, 8)
        longer = await services.jobs.press(BOB, Action.EXTEND_LOW, clip.id, 1)
        extended = await services.runner.wait(longer.id)
        assert extended.status == JobStatus.DONE, extended.error
        more, _ = read_clip(storage.clip_path(longer.id).read_bytes())
        assert len(more) == extended.params.frames > len(frames)


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
    # A clip's start and end images and the clip it extends travel too.
    clip_file, end = tmp_path / "bot" / "clip.mp4", tmp_path / "bot" / "end.png"
    clip_file.write_bytes(b"mp4")
    end.write_bytes(b"end")
    plan = ClipPlan(source, "a kite", end=end, prefix=clip_file)
    files = files_of([spec(3, clip=plan)])
    assert files == {str(source): b"\x89PNG fake", str(end): b"end", str(clip_file): b"mp4"}
    [held] = with_local_files([spec(3, clip=plan)], files, here)
    assert held.clip.source.read_bytes() == b"\x89PNG fake" and held.clip.end.read_bytes() == b"end"
    assert held.clip.prefix.suffix == ".mp4" and held.clip.prefix.read_bytes() == b"mp4"
    assert {held.clip.source.parent, held.clip.end.parent, held.clip.prefix.parent} == {here}


JOIN = """
import sys
import ray
try:
    ray.init(address=sys.argv[1], log_to_driver=False)
except Exception as exc:
    said = []  # the errors, and the errors they carry (as text, or as their cause)
    while exc is not None:
        said.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__
    why = "InvalidAuthToken" if "InvalidAuthToken" in " ".join(said) else said
    print("refused", str(why).replace(chr(10), " "))
else:
    print("joined", int(ray.cluster_resources()["CPU"]))
"""
BOT_JOINS = """
import sys
from engine.ray_cluster import join
try:
    join(sys.argv[1])
except ConnectionError as exc:
    print("refused:", exc)
"""


def test_the_local_cluster_refuses_a_client_without_its_token(cluster, tmp_path):
    import psutil
    import ray

    address = ray.get_runtime_context().gcs_address
    path = Path(os.environ["RAY_AUTH_TOKEN_PATH"])
    token = path.read_text()
    assert len(token) == 64, "256 random bits, as hex"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # Another process on the machine (or the network): without the token, with a wrong
    # one, with the right one. Its home has no ~/.ray/auth_token.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    clean["HOME"] = str(tmp_path)
    clean["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # to reach a cluster on 127.0.0.1
    tries = {
        "none": (JOIN, {}),
        "wrong": (JOIN, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64}),
        "token": (JOIN, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}),
        "bot": (BOT_JOINS, {}),  # the product's own join (RAY_ADDRESS set), no token
    }
    running = {
        name: subprocess.Popen(
            [sys.executable, "-c", script, address],
            env={**clean, **auth},
            cwd=Path(__file__).parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (script, auth) in tries.items()
    }
    got = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=300)
        got[name] = (out.strip().splitlines() or [err[-2000:]])[-1]
    assert got["none"] == "refused InvalidAuthToken", got  # the GCS's own answer
    assert got["wrong"] == "refused InvalidAuthToken", got
    assert got["token"] == f"joined {REPLICAS}", got
    assert got["bot"].startswith(f"refused: the Ray cluster at {address} asks for its token")
    # The token is in no Ray process's command line or environment: they read the file.
    read = set()
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            environ = process.environ()
            assert token not in " ".join(process.cmdline()) + " ".join(environ.values())
            if environ.get("RAY_AUTH_TOKEN_PATH") == str(path):
                read.add(process.name())
    assert {"gcs_server", "raylet"} <= read, read


def post_a_job(target: tuple[str, int], path: str) -> int | str:
    """POST a job to ``path`` on a port, without a token: the HTTP status, or what else."""
    host, port = target
    host = f"[{host}]" if ":" in host else host
    request = urllib.request.Request(
        f"http://{host}:{port}{path}",
        data=json.dumps({"entrypoint": "true"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError, http.client.HTTPException) as exc:  # gRPC, refused, reset
        return type(exc).__name__


LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def test_no_port_of_the_local_cluster_takes_a_job_without_the_token(cluster):
    import psutil
    import ray

    node_ip = ray.util.get_node_ip_address()
    listening = set()
    me = psutil.Process()
    for process in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            for connection in process.net_connections("tcp"):
                if connection.status == psutil.CONN_LISTEN:
                    listening.add((connection.laddr.ip, connection.laddr.port))
    ports = {port for _, port in listening}
    assert listening, "the cluster's processes were found"
    outside = {(ip, port) for ip, port in listening if ip not in LOOPBACK}
    assert not outside, f"listening beyond the loopback address: {outside}"
    assert node_ip == "127.0.0.1"
    assert 8265 not in ports, "no dashboard, so no jobs API"
    assert 8000 not in ports, "no Serve HTTP proxy: the bot uses handles"
    targets = sorted({(node_ip if ip in ("0.0.0.0", "::") else ip, port) for ip, port in listening})
    paths = ("/api/jobs/", "/api/job_agent/jobs/")  # the dashboard's, the node agents'
    tries = [(target, path) for target in targets for path in paths]
    with ThreadPoolExecutor(8) as pool:
        answers = dict(zip(tries, pool.map(lambda t: post_a_job(*t), tries), strict=True))
    taken = {t: a for t, a in answers.items() if isinstance(a, int) and 200 <= a < 300}
    assert not taken, answers
    assert 401 in answers.values(), f"the node agents ask for the token: {answers}"


@pytest.mark.parametrize(
    ("found", "refused"),
    [("2.40.0", True), ("2.52.1", True), ("2.57.1", True), ("2.58.0", False), ("3.0.0", False)],
)
def test_a_ray_with_known_holes_is_refused(monkeypatch, found, refused):
    import importlib.metadata

    from engine.ray_cluster import require_safe_ray

    monkeypatch.setattr(importlib.metadata, "version", lambda name: found)
    if refused:
        with pytest.raises(RuntimeError, match=rf"Ray {found} has known security holes"):
            require_safe_ray()
    else:
        require_safe_ray()

"""The engine's protocols hold for the parts that claim them: a loaded model is what a
local worker runs, the replicas' model what the core reads, both kinds of worker what the
scheduler feeds, both outlets where a worker's results go, and the e2e gates are hooks."""

from __future__ import annotations

import pytest

from engine.nsfw_step import NsfwStep, Straight
from engine.protocols import Model, Outlet, Pipelines, Worker, WorkerHooks
from engine.worker import Worker as LocalWorker
from tests.e2e.engine_options import FileGates


def test_a_loaded_model_and_its_local_worker(sd_model):
    assert isinstance(sd_model, Pipelines) and isinstance(sd_model, Model)
    assert sd_model.sampler and sd_model.defaults.native_size > 0
    worker = LocalWorker(sd_model)  # not started: no thread
    assert isinstance(worker, Worker) and worker.name == sd_model.device


def test_the_replicas_model_and_worker():
    pytest.importorskip("ray")
    from engine.model import SD
    from engine.ray_engine import RayWorker, RemoteModel

    remote = RemoteModel("tiny", "ray (cpu)", "float32", SD, "PNDMScheduler")
    assert isinstance(remote, Model) and not isinstance(remote, Pipelines)
    assert isinstance(RayWorker(handle=None, name="ray#0"), Worker)


def test_outlets_and_hooks():
    assert isinstance(Straight(), Outlet) and isinstance(NsfwStep(classifier=None), Outlet)
    assert isinstance(FileGates(None, None), WorkerHooks)
    assert not isinstance(Straight(), WorkerHooks)

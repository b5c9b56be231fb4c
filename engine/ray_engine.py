"""``ENGINE=ray``: the workers are Ray Serve replicas, the scheduler stays in the bot.

``open_ray_engine`` joins the Ray cluster at ``RAY_ADDRESS`` (or starts a local one,
locked down: ``engine.ray_cluster``), deploys ``engine.ray_replica.EngineReplica`` with
``RAY_REPLICAS`` replicas (one GPU each where the cluster has GPUs) and returns an
``Engine`` whose workers are ``RayWorker``s: the same fair scheduler and batching as the
local engine hand each batch to the first free one, which sends it through the deployment
handle and turns the replica's stream back into the job's events and output. A replica
that dies mid-batch fails the stream: the batch goes back to the queue once, and Serve
starts a new replica in its place.

Ray is an optional extra (``pip install -e ".[ray]"``); nothing imports this module
unless ``ENGINE=ray``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from engine.clip_jobs import VideoOffer
from engine.faults import Returned
from engine.handle import JobHandle, JobStarted
from engine.inbox import Handoff
from engine.model import FamilyDefaults
from engine.protocols import Room
from engine.ray_cluster import forget_token, join, start_local
from engine.ray_replica import Ending, EngineReplica, JobFailed, ModelInfo, Placed, files_of
from engine.scheduler import Engine, default_batch_images
from engine.types import JobOutput, Progress

logger = logging.getLogger(__name__)

APP_NAME = "imaginebot"
DEPLOYMENT = "imaginebot-engine"


class RemoteJobError(Exception):
    """A job's error on a replica, as the replica told it."""


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteModel:
    """What the core reads of ``engine.model`` when the model runs on the replicas (an
    ``engine.protocols.Model``)."""

    name: str
    device: str
    dtype: str
    defaults: FamilyDefaults
    sampler: str

    @classmethod
    def of(cls, info: ModelInfo) -> RemoteModel:
        defaults = info.defaults or FamilyDefaults(
            info.family, info.steps, info.guidance, info.native_size
        )
        return cls(info.name, f"ray ({info.device})", info.dtype, defaults, info.sampler)


class RayWorker:
    """One of the engine's workers (an ``engine.protocols.Worker``): a batch at a time
    (and one behind it) through the deployment handle; Serve routes it to a replica with
    room."""

    def __init__(self, handle: Any, name: str) -> None:
        self.handle = handle
        self.name = name
        self.call_seconds = 0.0  # time from a batch's send to its stream's end
        self.swaps = 0  # the replicas' own swaps happen on the cluster: not counted here
        self.lost = None  # a slot is never lost: Serve replaces dead replicas
        self.placed: dict[int, str] = {}  # job id -> the replica (actor) it last ran on
        self._tasks: set[asyncio.Task] = set()

    def start(self) -> None:
        """Nothing to start: the replicas run on the cluster."""

    async def stop(self) -> None:
        """Let the batches in flight finish (their jobs end as on a local worker)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def call(self, function: Callable[[], Any]) -> asyncio.Future:
        """No local thread runs torch with the Ray engine."""
        raise NotImplementedError("the Ray engine runs no function on the bot's side")

    def run_batch(self, items: Sequence[JobHandle]) -> Handoff:
        """Send a batch to a replica; its stream settles the jobs and the handoff."""
        loop = asyncio.get_running_loop()
        handoff = Handoff(loop.create_future(), loop.create_future())
        task = loop.create_task(self._run(list(items), handoff), name=f"{self.name}-batch")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return handoff

    async def _run(self, items: list[JobHandle], handoff: Handoff) -> None:
        started = time.perf_counter()
        returned = None
        stream = None
        sent: list[JobHandle] = []
        try:
            # Inputs travel as bytes; a job whose file cannot be read fails alone, as
            # it would on a local worker.
            files: dict[str, bytes] = {}
            for item in items:
                try:
                    files.update(await asyncio.to_thread(files_of, [item.spec]))
                except OSError as exc:
                    item.finish(None, exc)
                else:
                    sent.append(item)
            by_id = {item.spec.job_id: item for item in sent}
            if sent:
                specs = [item.spec for item in sent]
                stream = self.handle.options(stream=True).run_batch.remote(specs, files)
                _cancel_when_all_cancelled(sent, stream)
                async for event in stream:
                    if isinstance(event, Placed):
                        self.placed.update(dict.fromkeys(by_id, event.replica))
                        logger.debug("jobs %s run on %s", list(by_id), event.replica)
                        continue
                    _deliver(event, by_id, handoff)
                if not all(item.output.done() for item in sent):
                    raise RuntimeError("the replica's stream ended before every job's outcome")
        except asyncio.CancelledError:
            if stream is not None:
                stream.cancel()
            raise
        except Exception as exc:  # the replica died, or the stream broke
            if not all(item.output.done() for item in sent):
                logger.warning("%s: a batch's replica failed (%s)", self.name, exc)
                returned = Returned(exc, True, False)
        finally:
            self.call_seconds += time.perf_counter() - started
            for item in sent:
                self.placed.pop(item.spec.job_id, None)
                item.through()  # what the replica reported is all this engine learns
            for future in (handoff.ending, handoff.done):
                if not future.done():
                    future.set_result(returned if future is handoff.done else None)


def _deliver(event: Any, by_id: dict[int, JobHandle], handoff: Handoff) -> None:
    """One event of a replica's stream to its job's handle (in the order it came)."""
    if isinstance(event, Ending):
        if not handoff.ending.done():
            handoff.ending.set_result(None)
        return
    handle = by_id.get(event.job_id)
    if handle is None:
        return
    if isinstance(event, (JobStarted, Progress)):
        handle.report(event)
    elif isinstance(event, JobOutput):
        handle.gpu_seconds += event.gpu_seconds
        handle.finish(event, None)
        handle.through()
    elif isinstance(event, JobFailed):
        handle.gpu_seconds += event.gpu_seconds
        handle.finish(None, RemoteJobError(event.error))
        handle.through()


def _cancel_when_all_cancelled(items: list[JobHandle], stream: Any) -> None:
    """When every job of the batch is cancelled, cancel the stream: the replica stops
    the pipeline at its next step."""

    def check(_: asyncio.Future) -> None:
        if all(item.cancelled.is_set() for item in items):
            stream.cancel()

    for item in items:
        item.output.add_done_callback(check)


def deploy(
    model_id: str,
    *,
    replicas: int,
    address: str = "",
    device: str = "auto",
    nsfw: dict[str, Any] | None = None,
    gpus: float | None = None,
    ray_init: dict[str, Any] | None = None,
    replica: type = EngineReplica,
    **models: Any,
) -> Any:
    """Join the cluster at ``address`` (or start a local one, ``ray_cluster``) and deploy
    the replicas (``replica``: the deployment's class, ``EngineReplica`` or a subclass of
    it; ``models``: its ``models``, ``default``, ``budget``, ``lora_dir``, ``ip_adapters``
    and ``video``, the VIDEO_MODEL); their
    handle. Blocking."""
    import ray
    from ray import serve

    if not ray.is_initialized():
        if address:  # the operator's cluster, with its token (README, "Scaling out")
            join(address, ray_init)
        else:
            start_local(ray_init)  # token auth, no dashboard, no jobs API
    if gpus is None:  # one GPU per replica where the cluster has GPUs
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
    options: dict[str, Any] = {"num_gpus": gpus} if gpus else {"num_cpus": 1}
    serve.start(proxy_location="Disabled")
    deployment = serve.deployment(
        replica,
        name=DEPLOYMENT,
        num_replicas=replicas,
        max_ongoing_requests=2,  # the batch running and the one handed over behind it
        ray_actor_options=options,
        health_check_period_s=2,
        max_constructor_retry_count=2,  # a MODEL_ID that does not load fails the start fast
    )
    app = deployment.bind(model_id, device if gpus else "cpu", nsfw=nsfw, **models)
    return serve.run(app, name=APP_NAME, route_prefix=None)


async def open_ray_engine(
    model_id: str,
    *,
    replicas: int,
    max_batch_images: int | None = None,
    room: Room | None = None,
    **options: Any,
) -> Engine:
    """An engine whose workers are the replicas, deployed first (``options``: those of
    ``deploy``; ``room``: the engine's back-pressure hook, see ``Engine``)."""
    handle = await asyncio.to_thread(deploy, model_id, replicas=replicas, **options)
    return await engine_on(handle, replicas, max_batch_images, room=room)


async def engine_on(
    handle: Any, replicas: int, max_batch_images: int | None = None, *, room: Room | None = None
) -> Engine:
    """An engine with ``replicas`` workers sending their batches through ``handle``."""
    default, infos, loras, ip_adapters, video = await handle.catalog.remote()
    workers = [RayWorker(handle, f"ray#{index}") for index in range(replicas)]
    info: ModelInfo = infos[default]
    batch = max_batch_images or default_batch_images(info.device)  # the replicas' device
    models = {alias: RemoteModel.of(each) for alias, each in infos.items()}
    return Engine(
        models[default],
        max_batch_images=batch,
        workers=workers,
        room=room,
        models=models,
        default_model=default,
        loras=loras,
        ip_adapters=ip_adapters,
        video=None if video is None else VideoOffer(**video),
    )


def shutdown() -> None:
    """Delete the deployment and leave the cluster (a local one stops, and its token is
    deleted)."""
    import ray
    from ray import serve

    with contextlib.suppress(Exception):
        serve.delete(APP_NAME)
    with contextlib.suppress(Exception):
        serve.shutdown()
    ray.shutdown()
    forget_token()

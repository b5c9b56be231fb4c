"""The composition root's parts, for the bot, the CLI and the benchmark alike.

``open_app(settings)`` opens storage, loads the model into an engine and builds the
services, and closes them in reverse order; the Discord client is added on top of it by
``python -m bot`` only.

One test seam: ``IMAGINEBOT_TEST_ENGINE_OPTIONS``, read here and nowhere else, names a
function (``module:function``) whose keyword arguments a test adds to the local engine's
constructor: its ``hooks`` (gates the test opens) and a ``preview_interval``. The end-to-end
tests set it (``tests/e2e/engine_options.py``); the product never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bot.describing import open_describer
from bot.media import MediaFetcher
from bot.metrics import Metrics, open_metrics
from bot.settings import Settings, SettingsError
from core.encoders import EncoderPool
from core.limits import Limits
from core.services import Services, open_services
from engine import Engine
from engine.protocols import Room
from storage.db import Storage

logger = logging.getLogger(__name__)

TEST_ENGINE_OPTIONS = "IMAGINEBOT_TEST_ENGINE_OPTIONS"


@dataclass(frozen=True, slots=True)
class App:
    """Everything the bot runs on, open."""

    settings: Settings
    storage: Storage
    engine: Engine
    services: Services
    metrics: Metrics | None = None  # the bot's, with METRICS_PORT (bot.metrics)


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings, *, nsfw_filter: bool = True, warm: bool = False, metrics: bool = False
) -> AsyncIterator[App]:
    """Storage, then the engine (the model loads off the event loop), then the services;
    closed in reverse order. ``nsfw_filter=False`` skips the classifier (the CLI's files
    are the operator's own); ``warm``: the captioning model starts loading at once (the
    bot's; the CLI loads it when it describes); ``metrics``: serve them when
    ``METRICS_PORT`` is set (the bot's), from after the services until before they close."""
    async with Storage(settings.data_dir) as storage:
        # The engine hands a worker no new batch while the encoders' hand-off is full.
        encoders = EncoderPool()
        room = encoders.wait_for_room
        if settings.engine == "ray":
            engine = await open_ray(settings, nsfw_filter=nsfw_filter, room=room)
        else:
            engine = await asyncio.to_thread(
                load_engine, settings, nsfw_filter=nsfw_filter, room=room
            )
        limits = Limits.from_settings(settings)
        fetcher = MediaFetcher(limits.media_hosts)  # --sref/--oref links
        if warm:
            prefetch_adapters(settings, engine)
            prefetch_video(settings, engine)
        try:
            # Closed in reverse: the services (the running job interrupted), then at once
            # the engine (its scheduler first: no batch is handed to a worker after the
            # services stopped), the encoders, and the captioning model's thread last.
            async with (
                open_describer(settings, warm=warm) as describer,
                _closing(encoders),
                engine,
                open_services(
                    storage,
                    engine,
                    limits,
                    encoders,
                    describer=describer,
                    fetch_url=fetcher,
                    sweep=warm,  # the bot's: the retention sweep (KEEP_IMAGES_DAYS)
                ) as services,
                open_metrics(settings, services, serve=metrics) as served,
            ):
                yield App(settings, storage, engine, services, served)
        finally:
            await fetcher.close()
            if settings.engine == "ray":
                from engine.ray_engine import shutdown

                await asyncio.to_thread(shutdown)


def prefetch_adapters(settings: Settings, engine: Engine) -> None:
    """The bot's: fetch the IP-Adapters of the offered models' families from the hub on a
    thread of its own (``engine.references.prefetch``), so that the first job with
    references does not hold a worker for the download."""
    import threading

    from engine import base_family
    from engine.references import prefetch

    families = set()
    for model in engine.models.values():
        try:
            families.add(base_family(model.defaults.family))
        except ValueError:
            continue  # a family without adapters
    for family, source in settings.ip_adapters().items():
        if family in families:
            name = f"prefetch-{family}"
            threading.Thread(target=prefetch, args=(source, family), name=name, daemon=True).start()


def prefetch_video(settings: Settings, engine: Engine) -> None:
    """The bot's: fetch a hub ``VIDEO_MODEL``'s files on a thread of its own
    (``engine.video.prefetch``); clips are refused, saying so, until it is done. With
    ``ENGINE=ray`` each replica fetches its own, on its machine."""
    from engine.video import prefetch

    if engine.video is not None and settings.engine != "ray":
        prefetch(settings.video_model.strip(), engine.video.fetch)


@contextlib.asynccontextmanager
async def _closing(encoders: EncoderPool) -> AsyncIterator[None]:
    """Close the pool at the end (after the services): its encodes in flight finish."""
    try:
        yield
    finally:
        await asyncio.to_thread(encoders.close)


async def open_ray(
    settings: Settings, *, nsfw_filter: bool = True, room: Room | None = None
) -> Engine:
    """``ENGINE=ray``: the replicas deployed on the cluster at ``RAY_ADDRESS`` (a local one
    when empty), each loading every model of ``MODELS`` and ``MODEL_ID`` (kept resident up
    to ``MODEL_MEMORY_GB``), ``LORA_DIR``'s LoRAs (the same paths on the cluster's
    machines), and the NSFW classifier unless it is off."""
    try:
        from engine.ray_engine import open_ray_engine
    except ImportError as exc:
        raise SettingsError(
            f'ENGINE=ray needs Ray Serve ({exc.name} is missing): pip install -e ".[ray]"'
        ) from exc
    nsfw = None
    if nsfw_filter and settings.nsfw_filter != "off":
        nsfw = {"model": settings.nsfw_model, "threshold": settings.nsfw_threshold}
    # One device per replica: a list of GPUs (or cuda:all) is the bot's own; Ray gives
    # each replica its GPU.
    several = "," in settings.device or settings.device == "cuda:all"
    device = "auto" if several else settings.device
    sources, default = settings.model_sources()
    _refuse_same_names(sources)
    video = settings.video_model.strip()  # each replica fetches and loads it (engine.ray_replica)
    gb = settings.model_memory_gb
    try:
        return await open_ray_engine(
            sources[default],
            replicas=settings.ray_replicas,
            max_batch_images=settings.max_batch_images,
            address=settings.ray_address,
            device=device,
            nsfw=nsfw,
            room=room,
            models=sources,
            default=default,
            budget=None if gb is None else int(gb * 1024**3),
            lora_dir=None if settings.lora_dir is None else str(settings.lora_dir),
            ip_adapters=settings.ip_adapters(),
            video=None if video.lower() == "off" else video,
        )
    except (ConnectionError, RuntimeError) as exc:  # no cluster there; replicas that fail
        from engine.ray_engine import shutdown

        await asyncio.to_thread(shutdown)  # a local cluster started for it, and its token
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = settings.ray_address or "(a local cluster)"
        raise SettingsError(
            f"ENGINE=ray: the replicas did not start on RAY_ADDRESS={where} ({first}); "
            "check that MODEL_ID and NSFW_MODEL load on the cluster's machines"
        ) from exc


def load_engine(
    settings: Settings, *, nsfw_filter: bool = True, room: Room | None = None
) -> Engine:
    """Load the models (blocking) on each device in ``DEVICE`` (one worker each) and
    build the engine with the batch size for the device, and on each device the NSFW
    classifier unless ``NSFW_FILTER=off`` (or ``nsfw_filter`` is False); ``room``: the
    engine's back-pressure hook.

    Every model of ``MODELS`` loads once at start on the first device (one that does not
    load stops the bot, naming it; the core learns each one's family), and stays there
    while ``MODEL_MEMORY_GB`` allows (``engine.resident``); the other devices load each
    model when a job first needs it there."""
    from engine import VIDEO_ALIAS, VideoOffer
    from engine.model import load_model, pick_device
    from engine.resident import Resident, default_budget
    from engine.video import load_video_model

    devices = [pick_device(device) for device in settings.devices()]
    classifiers = None
    if nsfw_filter and settings.nsfw_filter != "off":
        classifiers = [load_classifier(settings, device) for device in devices]
    sources, default = settings.model_sources()
    _refuse_same_names(sources)
    loras = load_loras(settings)
    ip_adapters = settings.ip_adapters()  # loaded into a model when a call first needs one
    video = settings.video_model.strip()
    residents: list[Resident] = []
    for device in devices:
        loaders = {
            alias: functools.partial(load_model, source, device, place=False)
            for alias, source in sources.items()
        }
        if video.lower() != "off":  # loaded when a clip first needs it, not at start
            loaders[VIDEO_ALIAS] = functools.partial(load_video_model, video, device, place=False)
        gb = settings.model_memory_gb
        budget = int(gb * 1024**3) if gb is not None else default_budget(device)
        if residents:  # the first device measured every model
            loaded = {default: load_model(sources[default], device)}
            sizes = residents[0].sizes
            residents.append(
                Resident(
                    loaders,
                    default=default,
                    loaded=loaded,
                    budget=budget,
                    sizes=sizes,
                    loras=loras,
                    ip_adapters=ip_adapters,
                )
            )
            continue
        resident = Resident(
            loaders, default=default, budget=budget, loras=loras, ip_adapters=ip_adapters
        )
        for alias in [*(a for a in sources if a != default), default]:  # the default last
            try:
                resident.get(alias)
            except Exception as failed:
                exc = failed.__cause__ or failed  # the loader's own error (engine.resident)
                if alias == default:  # bot.discord_app.startup names MODEL_ID
                    raise exc from None
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise SettingsError(
                    f"MODELS: {alias}={sources[alias]} could not be loaded ({first_line})"
                ) from exc
        residents.append(resident)
    for resident in residents:
        if video.lower() != "off":
            resident.video = VideoOffer.of(video, VIDEO_ALIAS)
    return Engine(
        residents,
        max_batch_images=settings.batch_images(residents[0].first.device),
        classifier=classifiers,
        worker_options=[{"name": device} for device in devices],
        room=room,
        default_model=default,
        **engine_options_for_tests(),
    )


def _refuse_same_names(sources: dict[str, str]) -> None:
    """Jobs store their model's name (a folder's or file's name, or the hub id): two
    models of one name could not be told apart after a restart."""
    from engine.model import name_of

    seen: dict[str, str] = {}
    for alias, source in sources.items():
        name = name_of(source)
        if name in seen:
            raise SettingsError(
                f"MODELS: {seen[name]} and {alias} both name a model {name!r}; "
                "rename one of the folders or files"
            )
        seen[name] = alias


def load_loras(settings: Settings) -> dict:
    """``LORA_DIR``'s LoRAs by name (none when it is not set); a ``SettingsError`` when
    the folder is not there."""
    if settings.lora_dir is None:
        return {}
    from engine.loras import scan_lora_dir

    try:
        return scan_lora_dir(settings.lora_dir)
    except ValueError as exc:
        raise SettingsError(f"LORA_DIR: {exc}") from exc


def engine_options_for_tests() -> dict[str, Any]:
    """The engine options a test asks for through ``IMAGINEBOT_TEST_ENGINE_OPTIONS``
    (``module:function``, called with no argument); none when it is unset, as in
    production."""
    target = os.environ.get(TEST_ENGINE_OPTIONS, "")
    if not target:
        return {}
    module, _, name = target.partition(":")
    options = dict(getattr(importlib.import_module(module), name)())
    logger.info("test engine options from %s: %s", target, ", ".join(sorted(options)))
    return options


def load_classifier(settings: Settings, device: str):
    """The NSFW classifier; a ``SettingsError`` when it cannot be loaded, since sending
    unfiltered images with the filter on would be worse than not starting."""
    from engine.nsfw import NsfwClassifier

    try:
        return NsfwClassifier.load(settings.nsfw_model, device, settings.nsfw_threshold)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SettingsError(
            f"NSFW_MODEL={settings.nsfw_model} could not be loaded ({first}); with "
            f"NSFW_FILTER={settings.nsfw_filter} the bot does not start without it "
            "(set NSFW_FILTER=off to run without the filter)"
        ) from exc

"""The services the bot, the CLI and the benchmark receive: one value, opened and closed
in one place."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.admission import Admission
from core.blends import Blends
from core.describe import Describer, Descriptions
from core.encoders import EncoderPool
from core.jobs import Jobs
from core.limits import Limits
from core.moderation import Moderation
from core.references import UrlFetch
from core.retention import Retention
from core.runner import Runner
from core.users import Users
from engine import Engine
from storage.db import Storage


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the Discord layer asks of the domain."""

    storage: Storage
    engine: Engine
    limits: Limits
    runner: Runner  # a job's life after admission; events; what the bot shows
    admission: Admission  # bans, quotas, limits, blocked words, the committed row
    jobs: Jobs  # /imagine, buttons, Cancel
    users: Users  # /settings, /info, /history
    moderation: Moderation  # /admin
    blends: Blends  # /blend
    descriptions: Descriptions  # /describe, the Describe menu
    retention: Retention  # KEEP_IMAGES_DAYS, the disk total: the bot's background sweep

    @classmethod
    def build(
        cls,
        storage: Storage,
        engine: Engine,
        limits: Limits | None = None,
        encoders: EncoderPool | None = None,
        *,
        describer: Describer | None = None,
        fetch_url: UrlFetch | None = None,
    ) -> Services:
        """The services wired together (not started: see ``open_services``);
        ``describer``: the captioning model's service (None: /describe is not offered);
        ``fetch_url``: what downloads ``--sref``/``--oref`` links."""
        limits = limits or Limits()
        runner = Runner(storage, engine, encoders or EncoderPool())
        admission = Admission(storage, limits, runner)
        jobs = Jobs(storage, engine, limits, admission, runner, fetch_url)
        return cls(
            storage=storage,
            engine=engine,
            limits=limits,
            runner=runner,
            admission=admission,
            jobs=jobs,
            users=Users(storage, engine, limits, admission),
            moderation=Moderation(storage, engine, limits, admission, runner, jobs),
            blends=Blends(engine, limits, admission),
            descriptions=Descriptions(storage, admission, describer, engine.classify),
            retention=Retention(storage, limits.keep_images_days),
        )


@contextlib.asynccontextmanager
async def open_services(
    storage: Storage,
    engine: Engine,
    limits: Limits | None = None,
    encoders: EncoderPool | None = None,
    *,
    describer: Describer | None = None,
    fetch_url: UrlFetch | None = None,
    sweep: bool = False,
) -> AsyncIterator[Services]:
    """Services whose runner has resumed the jobs a stop left (queued ones run, a running
    one is retried once); at the end, admission stops and the runner leaves every
    unfinished job queued for the next start. ``sweep``: the retention sweep runs in the
    background (the bot's; not a CLI run's)."""
    pool = encoders or EncoderPool()
    services = Services.build(
        storage, engine, limits, pool, describer=describer, fetch_url=fetch_url
    )
    await services.admission.rates.load(storage)  # what each model's jobs measured
    await services.runner.start()
    if sweep:
        services.retention.start()
    try:
        yield services
    finally:
        await services.retention.stop()
        await services.admission.stop()
        await services.runner.stop()
        if encoders is None:  # ours: the encodes in flight finish, off the loop
            await asyncio.to_thread(pool.close)

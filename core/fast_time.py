"""Fast time and relax (issue 28): quotas in GPU time, as Midjourney counts them.

Each job's GPU seconds are measured on its worker (``engine.gpu_time``) and kept on its
row. Before it runs, admission estimates them from its recipe (images x steps x pixels:
its work) and what that model's jobs measured per unit of work (``Rates``); the estimate
counts against the member's fast time until the measured value replaces it.

A fast job spends the member's fast minutes (``FAST_MINUTES_DAILY``, a server's default or
a member's override by ``/admin quota minutes:``, ``GLOBAL_FAST_MINUTES_DAILY`` across
servers); a relax job spends none and waits behind every fast job (the scheduler's order:
``engine.scheduler.fair_order``), at most ``MAX_RELAX_PER_USER`` of a member's at once.
A fast job that would pass the member's fast time runs in relax when ``RELAX`` is on (the
job's message says so), else it is refused saying when fast time renews (midnight UTC).
Admins have no fast-time limit in their server (as no job quota); owners none anywhere.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from core.errors import FastTimeUsedUp, QueueFull, UserError
from core.limits import Limits
from core.model import AdmissionCounts, EventKind, JobEvent, JobParams, JobStatus, NewJob, Requester

if TYPE_CHECKING:
    from storage.db import Storage

FAST, RELAX = "fast", "relax"
MODES = (FAST, RELAX)
# Seconds per unit of work (one image, one step, one megapixel) before a model has a
# measured job: about an SDXL step at 1 MP on a recent 24 GB GPU.
DEFAULT_SECONDS_PER_UNIT = 0.06
KEPT = 0.2  # each measured job's weight in its model's running rate
HISTORY = 200  # done jobs read back at start, per the whole table (newest first)


def work_of(params: JobParams, strength: float = 1.0) -> float:
    """A job's work: images x steps run x megapixels (a clip's frames as images;
    image-to-image runs ``strength`` of its steps), as ``engine.gpu_time.work_units``."""
    count = params.frames or params.num_images
    steps = max(1.0, params.steps * strength) if strength < 1.0 else params.steps
    return count * steps * params.width * params.height / 1_000_000


class Rates:
    """Seconds per unit of work by model and shape (its size, a clip or not): a running
    mean of what its done jobs measured, seeded from the table at start; the model's
    rate over every shape for a shape it has not run yet; a default before any.

    By shape, because a unit of work is not the same cost at every size: attention grows
    faster than the pixels, and a small job pays the call's fixed costs."""

    def __init__(self, default: float = DEFAULT_SECONDS_PER_UNIT) -> None:
        self.default = default
        self._rates: dict[tuple[str, ...], float] = {}

    def estimate(self, params: JobParams, strength: float = 1.0) -> float:
        """A job's GPU seconds, before it runs."""
        model, shape = _keys(params)
        rate = self._rates.get(shape, self._rates.get(model, self.default))
        return work_of(params, strength) * rate

    def observe(self, params: JobParams, strength: float, seconds: float) -> None:
        """A done job's measured seconds move its shape's and its model's rates."""
        work = work_of(params, strength)
        if work <= 0 or seconds <= 0:
            return
        rate = seconds / work
        for key in _keys(params):
            known = self._rates.get(key)
            self._rates[key] = rate if known is None else known + KEPT * (rate - known)

    async def load(self, storage: Storage) -> None:
        """Seed from the newest done jobs that were measured (oldest first)."""
        for job in reversed(await storage.measured_jobs(HISTORY)):
            self.observe(job.params, job.recipe.strength, job.gpu_seconds or 0.0)

    async def on_event(self, event: JobEvent) -> None:
        """The runner's listener: each done job's measured seconds."""
        job = event.job
        if event.kind == EventKind.FINISHED and job.status == JobStatus.DONE and job.gpu_seconds:
            self.observe(job.params, job.recipe.strength, job.gpu_seconds)


def _keys(params: JobParams) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The model's key and its shape's."""
    kind = "clip" if params.frames else "images"
    return (params.model,), (params.model, kind, f"{params.width}x{params.height}")


@dataclass(frozen=True, slots=True)
class FastStatus:
    """A member's fast time today, in GPU seconds (limits None: none for them)."""

    limit: float | None
    used: float
    global_limit: float | None
    global_used: float
    renews_at: datetime

    def over(self, estimate: float) -> bool:
        """Whether a job of ``estimate`` seconds would pass either limit."""
        here = self.limit is not None and self.used + estimate > self.limit
        there = self.global_limit is not None and self.global_used + estimate > self.global_limit
        return here or there

    @property
    def left(self) -> float | None:
        """Seconds left today (the lower of both limits), None when unlimited."""
        lefts = [
            limit - used
            for limit, used in ((self.limit, self.used), (self.global_limit, self.global_used))
            if limit is not None
        ]
        return max(0.0, min(lefts)) if lefts else None


def fast_status(
    limits: Limits, who: Requester, counts: AdmissionCounts, day_start: datetime
) -> FastStatus:
    """``who``'s fast time from ``counts``: the override, the server's default or
    ``FAST_MINUTES_DAILY`` here (none for admins), ``GLOBAL_FAST_MINUTES_DAILY``
    everywhere (none for owners)."""
    limit = None
    if not who.is_admin:
        minutes = next(
            m
            for m in (counts.fast_override, counts.fast_server_default, limits.fast_minutes_daily)
            if m is not None
        )
        limit = minutes * 60
    global_limit = None
    if not who.is_owner and who.user_id not in limits.owner_ids:
        global_limit = limits.global_fast_minutes_daily * 60 or None
    return FastStatus(
        limit,
        counts.fast_here,
        global_limit,
        counts.fast_everywhere,
        day_start + timedelta(days=1),
    )


class FastBatch:
    """One admission batch's fast time: what its earlier requests add for each member,
    and each new job's mode and estimate."""

    def __init__(self, limits: Limits, rates: Rates, day_start: datetime) -> None:
        self.limits = limits
        self.rates = rates
        self.day_start = day_start
        self._here: Counter[tuple[int, int | None]] = Counter()
        self._everywhere: Counter[int] = Counter()
        self._relax: Counter[int] = Counter()

    def place(self, who: Requester, read: AdmissionCounts, news: list[NewJob]) -> list[NewJob]:
        """``news`` with their mode, moved flag and estimate; a ``UserError`` when one
        cannot run (fast time used up with relax off, too many relax jobs, relax off)."""
        counts = replace(
            read,
            fast_here=read.fast_here + self._here[who.user_id, who.guild_id],
            fast_everywhere=read.fast_everywhere + self._everywhere[who.user_id],
            relax_mine=read.relax_mine + self._relax[who.user_id],
        )
        status = fast_status(self.limits, who, counts, self.day_start)
        placed: list[NewJob] = []
        try:
            return self._place(who, counts, status, news, placed)
        except UserError as refusal:
            refusal.fitted = len(placed)  # of a request's jobs, how many would have run
            raise

    def _place(
        self,
        who: Requester,
        counts: AdmissionCounts,
        status: FastStatus,
        news: list[NewJob],
        placed: list[NewJob],
    ) -> list[NewJob]:
        fast, relax = 0.0, 0
        for new in news:
            estimate = self.rates.estimate(new.params, new.recipe.strength)
            asked = new.mode or str(counts.settings.get("mode") or FAST)
            mode, moved = asked, False
            if asked == FAST and status.over(fast + estimate):
                if not self.limits.relax:
                    raise _used_up(status)
                mode, moved = RELAX, True
            if mode == RELAX:
                self._check_relax(counts.relax_mine + relax)
                relax += 1
            else:
                fast += estimate
            placed.append(replace(new, mode=mode, moved=moved, gpu_estimate=estimate))
        return placed

    def commit(self, who: Requester, placed: list[NewJob]) -> None:
        """The request passed: its jobs count for the batch's later requests."""
        for new in placed:
            if new.mode == RELAX:
                self._relax[who.user_id] += 1
            else:
                self._here[who.user_id, who.guild_id] += new.gpu_estimate or 0.0
                self._everywhere[who.user_id] += new.gpu_estimate or 0.0

    def _check_relax(self, active: int) -> None:
        if not self.limits.relax:
            raise UserError("Relax mode is off on this bot: use `--fast` or `/settings mode:fast`.")
        if active >= self.limits.max_relax_per_user:
            raise QueueFull(
                f"You already have {active} relax jobs queued or running; the most is "
                f"{self.limits.max_relax_per_user}. Wait for one to finish, then try again."
            )


def _used_up(status: FastStatus) -> FastTimeUsedUp:
    here_left = None if status.limit is None else status.limit - status.used
    there_left = None if status.global_limit is None else status.global_limit - status.global_used
    everywhere = there_left is not None and (here_left is None or there_left < here_left)
    limit = status.global_limit if everywhere else status.limit
    used = status.global_used if everywhere else status.used
    minutes, spent = (limit or 0.0) / 60, used / 60
    where = " across all servers" if everywhere else ""
    return FastTimeUsedUp(
        f"You have used your {minutes:g} fast minutes for today{where} ({spent:.1f} used). "
        f"Fast time renews at {status.renews_at:%H:%M} UTC.",
        minutes=minutes,
        used=spent,
        renews_at=status.renews_at,
        everywhere=everywhere,
    )

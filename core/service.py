"""The service: creates jobs, enforces bounds, records everything. No Discord here.

Every entry point takes plain values (ids as ints, text) and either returns a ``Job``
row or raises a ``UserError`` subclass that the Discord layer shows as an ephemeral reply.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import math
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import (
    BadParameter,
    Banned,
    BlockedPrompt,
    NotAllowed,
    QueueFull,
    QuotaExceeded,
    UnknownJob,
    UserError,
)
from core.prompt import (
    MAX_CFG,
    MIN_CFG,
    ParsedPrompt,
    check_negative,
    parse_aspect,
    parse_float,
    parse_int,
    parse_prompt,
)
from core.sizes import size_for_aspect
from core.wordfilter import check_entry
from core.wordfilter import compiled as compiled_blocklist
from engine import (
    GRID_SIZE,
    Engine,
    JobCancelled,
    JobOutput,
    JobSpec,
    Progress,
    compose_grid,
    encode_png,
)
from engine.types import JobKind, JobStatus
from storage.db import (
    ALL_SERVERS,
    EVERYWHERE,
    AdmissionCounts,
    AuditRow,
    ImageRow,
    Job,
    NewJob,
    Scope,
    Storage,
)

logger = logging.getLogger(__name__)

STRONG_VARIATION = 0.7
SUBTLE_VARIATION = 0.35
UPSCALE_STRENGTH = 0.3
CREATIVE_UPSCALE_STRENGTH = 0.4
UPSCALE_FACTOR = 2
HISTORY_PAGE = 10
FINAL_STATUSES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


class Text(enum.StrEnum):
    """Where the text of a job came from: what a blocked-word refusal points to."""

    PROMPT = "prompt"
    NEGATIVE = "--no text"
    SAVED_NEGATIVE = "saved negative"
    PARENT_PROMPT = "prompt of the job"
    PARENT_NEGATIVE = "negative of the job"


_BLOCKED_MESSAGES = {
    Text.PROMPT: "Your prompt contains a word or phrase that is blocked in this server. "
    "Change it and try again.",
    Text.NEGATIVE: "Your `--no` text contains a word or phrase that is blocked in this "
    "server. Change it and try again.",
    Text.SAVED_NEGATIVE: "Your saved negative prompt (from `/settings`) contains a word or "
    "phrase that is blocked in this server. Clear it with `/settings reset:True`, or set "
    "another with `/settings negative:...`.",
    Text.PARENT_PROMPT: "The prompt of job {job} contains a word or phrase that is blocked "
    "in this server, so no new job can start from it.",
    Text.PARENT_NEGATIVE: "The negative prompt of job {job} contains a word or phrase that "
    "is blocked in this server, so no new job can start from it.",
}
_CHILD_TEXTS = (Text.PARENT_PROMPT, Text.PARENT_NEGATIVE)
# A job past its first checks, waiting for the batch that commits it.
_Admission = tuple["Requester", NewJob, "asyncio.Future[Job]"]
# Jobs committed per transaction at most (the insert's parameters stay well under
# SQLite's limit).
_ADMISSION_BATCH = 100


class Action:
    """Button actions as they appear in custom ids (``action:job:index``)."""

    UPSCALE = "u"
    VARY_STRONG = "v"
    VARY_SUBTLE = "s"
    UPSCALE_CREATIVE = "c"
    REROLL = "r"
    CANCEL = "x"

    # The actions that start a child job.
    ALL = frozenset({UPSCALE, VARY_STRONG, VARY_SUBTLE, UPSCALE_CREATIVE, REROLL})


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks, and where: plain ids from the Discord layer (None outside a server).

    ``is_admin``: an admin of this server (Manage Server, the admin role) or an owner;
    ``is_owner``: one of ``OWNER_IDS``, the bot's own operators, who act in every server.
    """

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    is_admin: bool = False
    is_owner: bool = False

    @property
    def scope(self) -> Scope:
        """The jobs, members, words and log rows this requester may see and act on."""
        return EVERYWHERE if self.is_owner else self.guild_id


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """A user's daily quota in a server: ``limit`` None means unlimited (admins), and
    the quota across every server (``global_limit`` None: off, or an owner)."""

    limit: int | None
    used: int
    resets_at: datetime
    global_limit: int | None = None
    global_used: int = 0

    @property
    def global_left(self) -> int | None:
        """Jobs left today across all servers (None: unlimited)."""
        return None if self.global_limit is None else max(0, self.global_limit - self.global_used)

    @property
    def left(self) -> int | None:
        """Jobs left today (None: unlimited)."""
        return None if self.limit is None else max(0, self.limit - self.used)


@dataclass(frozen=True, slots=True)
class UserInfo:
    """What /info shows."""

    quota: QuotaStatus
    jobs: list[tuple[int, int | None]]  # the caller's queued and running jobs: id, position
    queue_length: int
    running: int
    model: str
    device: str


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of /history."""

    user_id: int
    page: int
    pages: int
    total: int
    jobs: list[Job]


@dataclass(frozen=True, slots=True)
class JobEvent:
    """Something happened to a job: ``queued``, ``started``, ``progress`` or ``finished``."""

    kind: str
    job: Job
    progress: Progress | None = None


Listener = Callable[[JobEvent], Awaitable[None]]


class Service:
    """Creates and tracks jobs; the one place that turns requests into GPU work."""

    def __init__(
        self,
        storage: Storage,
        engine: Engine,
        *,
        max_steps: int = 50,
        max_upscale_side: int = 2048,
        max_queued_per_user: int = 5,
        max_queue: int = 200,
        daily_quota: int = 50,
        global_daily_quota: int = 200,
        max_blocked_words: int = 500,
        owner_ids: frozenset[int] = frozenset(),
    ) -> None:
        self.storage = storage
        self.engine = engine
        self.max_steps = max_steps
        self.max_upscale_side = max_upscale_side
        self.max_queued_per_user = max_queued_per_user
        self.max_queue = max_queue
        self.daily_quota = daily_quota
        self.global_daily_quota = global_daily_quota  # 0: off
        self.max_blocked_words = max_blocked_words
        self.owner_ids = owner_ids  # OWNER_IDS: never banned, never counted
        # Checks that count jobs and the insert they guard run under one lock, so that
        # jobs submitted at the same instant cannot all pass a limit that only one fits.
        self._admission = asyncio.Lock()
        self._to_commit: list[_Admission] = []  # jobs past their first checks, in order
        self._committer: asyncio.Task | None = None
        # Each server's blocked words, read once (only this process changes them).
        self._blocked: dict[int | None, tuple[str, ...]] = {}
        self._word_changes = 0
        self._listeners: list[Listener] = []
        self._waiters: dict[int, list[asyncio.Future]] = {}
        self._tasks: dict[int, asyncio.Task] = {}
        self._background: set[asyncio.Task] = set()

    @classmethod
    def from_settings(cls, storage: Storage, engine: Engine, settings: Any) -> Service:
        """A service with the bounds and limits of ``settings`` (a ``Settings``)."""
        return cls(
            storage,
            engine,
            max_steps=settings.max_steps,
            max_upscale_side=settings.max_upscale_side,
            max_queued_per_user=settings.max_queued_per_user,
            max_queue=settings.max_queue,
            daily_quota=settings.daily_quota,
            global_daily_quota=settings.global_daily_quota,
            max_blocked_words=settings.max_blocked_words,
            owner_ids=settings.owner_id_set,
        )

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # lifecycle

    async def start(self) -> list[Job]:
        """Re-queue what was queued and retry once what was running; returns those jobs."""
        resumed = []
        for job in await self.storage.jobs_with_status(JobStatus.RUNNING, scope=EVERYWHERE):
            if job.attempts >= 2:
                await self.storage.finish_job(
                    job.id, JobStatus.FAILED, "interrupted twice while running; not retried"
                )
                logger.warning("job %s was interrupted twice; marked failed", job.id)
                self._emit(JobEvent("finished", await self.job(job.id)))
                continue
            await self.storage.mark_queued(job.id)
        for job in await self.storage.jobs_with_status(JobStatus.QUEUED, scope=EVERYWHERE):
            logger.info("job %s resumed after a restart", job.id)
            self._launch(job)
            resumed.append(job)
        return resumed

    async def stop(self) -> None:
        """Stop tracking jobs; they stay queued for the next start.

        A job running now is interrupted at its next step and re-queued without using
        up its retry: a clean shutdown is not the job's failure.
        """
        running = [job_id for job_id in self._tasks if self.engine.position(job_id) == 0]
        # Stop the job tasks first, so that nothing below is recorded as a cancellation.
        tasks = list(self._tasks.values()) + list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        for job_id in running:
            self.engine.cancel(job_id)
            await self.storage.mark_queued(job_id, refund_attempt=True)
            logger.info("job %s interrupted by shutdown; queued for the next start", job_id)
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.cancel()
        self._waiters.clear()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` for every job event (on the loop, errors logged)."""
        self._listeners.append(listener)

    # queries

    @property
    def model_name(self) -> str:
        """The loaded model's name."""
        return self.engine.model.name

    def position(self, job_id: int) -> int | None:
        """0 running, 1.. waiting, None when not in the engine."""
        return self.engine.position(job_id)

    def positions(self) -> dict[int, int]:
        """Every held job's position (0 running, 1.. waiting), the fair order built once."""
        return self.engine.positions()

    async def get_job(self, job_id: int, who: Requester) -> Job:
        """The job, when ``who`` may see it (its server's, or an owner), else ``UnknownJob``:
        a job of another server is answered exactly like one that does not exist."""
        job = await self.storage.get_job(job_id, scope=who.scope)
        if job is None:
            raise UnknownJob(f"There is no job {job_id}.")
        return job

    async def job(self, job_id: int) -> Job:
        """The bot's own view of a job it holds (any server): for running and showing it."""
        job = await self.storage.get_job(job_id, scope=EVERYWHERE)
        if job is None:
            raise UnknownJob(f"There is no job {job_id}.")
        return job

    async def images(self, job_id: int) -> list[ImageRow]:
        """A job's image rows in order."""
        return await self.storage.images(job_id)

    async def record_message(
        self, job_id: int, channel_id: int | None, message_id: int, *, delivered: bool = False
    ) -> None:
        """Remember which Discord message shows the job (``delivered``: its final state)."""
        if delivered:
            await self.storage.mark_delivered(job_id, channel_id, message_id)
        else:
            await self.storage.set_message(job_id, channel_id, message_id)

    async def undelivered(self) -> list[Job]:
        """Finished jobs whose result has not reached Discord (a stop cut it off)."""
        return await self.storage.undelivered_jobs()

    async def wait(self, job_id: int) -> Job:
        """Wait until the job is done, failed or cancelled; returns its final row."""
        waiter = asyncio.get_running_loop().create_future()
        # Register first, then look: a job that finishes in between still wakes us.
        self._waiters.setdefault(job_id, []).append(waiter)
        job = await self.job(job_id)
        if job.status in FINAL_STATUSES:
            self._wake(job)
        return await waiter

    # requests

    def check_prompt(self, text: str) -> ParsedPrompt:
        """Parse and bound-check a prompt with its parameters (pure, fast)."""
        return parse_prompt(text, max_steps=self.max_steps)

    async def imagine(self, who: Requester, text: str) -> Job:
        """Queue a text-to-image job for ``text``; returns the queued job row."""
        parsed = self.check_prompt(text)
        defaults = self.engine.model.defaults
        # The cheap refusals first; the same read brings the user's /settings.
        mine = (await self._check_admission(who)).settings
        # The prompt's own parameters win; then the user's /settings; then the model's.
        aspect = parsed.aspect or _aspect(mine.get("aspect")) or (1, 1)
        width, height = size_for_aspect(*aspect, defaults.native_size)
        steps = next(v for v in (parsed.steps, mine.get("steps"), defaults.steps) if v is not None)
        cfg = next(v for v in (parsed.cfg, mine.get("cfg"), defaults.guidance) if v is not None)
        negative = parsed.negative if parsed.negative is not None else mine.get("negative", "")
        negative_from = Text.NEGATIVE if parsed.negative is not None else Text.SAVED_NEGATIVE
        params = {
            "aspect": f"{aspect[0]}:{aspect[1]}",
            "width": width,
            "height": height,
            "base_width": width,
            "base_height": height,
            "steps": min(int(steps), self.max_steps),
            "guidance": float(cfg),
            "num_images": GRID_SIZE,
            "model": self.model_name,
        }
        seed = parsed.seed if parsed.seed is not None else secrets.randbelow(2**32)
        return await self._create(
            who,
            NewJob(
                kind=JobKind.IMAGINE,
                user_id=who.user_id,
                guild_id=who.guild_id,
                channel_id=who.channel_id,
                prompt=parsed.prompt,
                negative=negative,
                seed=seed,
                params=params,
            ),
            sources=(Text.PROMPT, negative_from),
            checked=True,
        )

    async def press(self, who: Requester, action: str, job_id: int, index: int | None) -> Job:
        """Start the child job a button asks for; it belongs to whoever pressed."""
        if action not in Action.ALL:
            raise UnknownJob(f"This button ({action}) is not one I know.")
        await self.check_not_banned(who)
        parent = await self.get_job(job_id, who)
        if action == Action.REROLL:
            return await self._reroll(who, parent)
        source = await self._source_image(parent, index)
        if action in (Action.UPSCALE, Action.UPSCALE_CREATIVE):
            return await self._upscale(who, parent, source, creative=action != Action.UPSCALE)
        strength = STRONG_VARIATION if action == Action.VARY_STRONG else SUBTLE_VARIATION
        return await self._vary(who, parent, source, strength)

    async def cancel(self, job_id: int, who: Requester) -> Job:
        """Cancel a queued or running job (its owner or an admin); returns the final row."""
        await self.check_not_banned(who)
        job = await self.get_job(job_id, who)
        if job.user_id != who.user_id and not who.is_admin:
            raise NotAllowed(f"Only the owner of job {job_id} or an admin can cancel it.")
        if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            raise UserError(f"Job {job_id} is already {job.status}; there is nothing to cancel.")
        waiter = asyncio.get_running_loop().create_task(self.wait(job_id))
        if self.engine.cancel(job_id):
            logger.info("job %s cancelled by user %s", job_id, who.user_id)
            return await waiter
        waiter.cancel()
        if job_id in self._tasks:
            raise UserError(f"Job {job_id} is already finishing; it is too late to cancel it.")
        # Not held by anyone (its row outlived its task): the row is the truth.
        await self.storage.finish_job(job_id, JobStatus.CANCELLED, f"cancelled by {who.user_id}")
        final = await self.job(job_id)
        self._emit(JobEvent("finished", final))
        return final

    async def quota(self, who: Requester) -> QuotaStatus:
        """The caller's daily quota here (limit None: unlimited, for admins), the quota
        across every server (``GLOBAL_DAILY_QUOTA``, admins included, owners exempt),
        and when both reset (midnight UTC)."""
        day_start = self._day_start()
        counts = await self.storage.admission_counts(who.user_id, who.guild_id, day_start)
        return self._quota_status(who, counts, day_start)

    def _day_start(self) -> datetime:
        now = self.storage.clock().astimezone(UTC)
        return now.replace(hour=0, minute=0, second=0, microsecond=0)

    def _quota_status(
        self, who: Requester, counts: AdmissionCounts, day_start: datetime
    ) -> QuotaStatus:
        global_limit = None
        if not who.is_owner and self.global_daily_quota:
            global_limit = self.global_daily_quota
        limit = None
        if not who.is_admin:
            limit = next(
                v
                for v in (counts.override, counts.server_default, self.daily_quota)
                if v is not None
            )
        return QuotaStatus(
            limit,
            counts.used_here,
            day_start + timedelta(days=1),
            global_limit,
            counts.used_everywhere if global_limit is not None else 0,
        )

    async def _check_admission(self, who: Requester) -> AdmissionCounts:
        """The checks of ``_refuse`` on a fresh read; returns the counts (with the
        user's /settings) for the caller to use."""
        day_start = self._day_start()
        counts = await self.storage.admission_counts(who.user_id, who.guild_id, day_start)
        self._refuse(who, counts, day_start)
        return counts

    def _refuse(self, who: Requester, counts: AdmissionCounts, day_start: datetime) -> None:
        """``Banned``, ``QuotaExceeded`` or ``QueueFull``, in that order."""
        self._refuse_banned(who, counts.ban)
        status = self._quota_status(who, counts, day_start)
        reset = status.resets_at.strftime("%H:%M UTC")
        if status.limit is not None and status.used >= status.limit:
            if status.limit == 0:
                message = "You can't start jobs in this server (your daily limit is 0)."
            else:
                message = (
                    f"You have used your {status.limit} jobs for today ({status.used} used). "
                    f"Your quota resets at {reset}."
                )
            raise QuotaExceeded(
                message, limit=status.limit, used=status.used, resets_at=status.resets_at
            )
        if status.global_limit is not None and status.global_used >= status.global_limit:
            raise QuotaExceeded(
                f"You have used your {status.global_limit} jobs for today across all servers "
                f"({status.global_used} used). Your quota resets at {reset}.",
                limit=status.global_limit,
                used=status.global_used,
                resets_at=status.resets_at,
                everywhere=True,
            )
        mine = counts.active_mine
        if mine >= self.max_queued_per_user:
            raise QueueFull(
                f"You already have {mine} jobs queued or running; the most is "
                f"{self.max_queued_per_user}. Wait for one to finish, then try again."
            )
        if counts.queued_all >= self.max_queue:
            raise QueueFull(
                f"The queue is full ({counts.queued_all} jobs waiting). "
                "Please try again in a few minutes."
            )

    # users: settings, info, history

    async def user_settings(self, who: Requester) -> dict[str, Any]:
        """The user's defaults: any of ``aspect``, ``steps``, ``cfg``, ``negative``."""
        await self.check_not_banned(who)
        return await self.storage.user_settings(who.user_id)

    async def update_settings(
        self,
        who: Requester,
        *,
        aspect: str | None = None,
        steps: int | None = None,
        cfg: float | None = None,
        negative: str | None = None,
        reset: bool = False,
    ) -> dict[str, Any]:
        """Check and store the user's defaults (``reset`` clears them first)."""
        await self.check_not_banned(who)
        user_id = who.user_id
        changes: dict[str, Any] = {}
        # The same rules and messages as the prompt's own parameters.
        if aspect is not None:
            width, height = parse_aspect(aspect, "aspect")
            changes["aspect"] = f"{width}:{height}"
        if steps is not None:
            changes["steps"] = parse_int(str(steps), "steps", 1, self.max_steps)
        if cfg is not None:
            changes["cfg"] = parse_float(str(cfg), "cfg", MIN_CFG, MAX_CFG)
        if negative is not None:
            changes["negative"] = check_negative(negative, "negative")
        current = {} if reset else await self.storage.user_settings(user_id)
        updated = {**current, **changes}
        await self.storage.set_user_settings(user_id, updated)
        return updated

    async def info(self, who: Requester) -> UserInfo:
        """What /info shows: quota, the caller's jobs in the queue, the queue, the model."""
        await self.check_not_banned(who)
        positions = self.engine.positions()
        active = await self.storage.jobs_with_status(
            JobStatus.QUEUED, JobStatus.RUNNING, scope=who.guild_id, user_id=who.user_id
        )
        mine = [(job.id, positions.get(job.id)) for job in active]
        return UserInfo(
            quota=await self.quota(who),
            jobs=mine,
            queue_length=self.engine.queue_length,
            running=sum(1 for position in positions.values() if position == 0),
            model=self.model_name,
            device=self.engine.model.device,
        )

    async def history(
        self, who: Requester, page: int = 1, *, user_id: int | None = None
    ) -> HistoryPage:
        """A page (10 jobs, newest first) of the caller's jobs here, or, for an admin,
        another user's."""
        await self.check_not_banned(who)
        target = who.user_id if user_id is None else user_id
        if target != who.user_id and not who.is_admin:
            raise NotAllowed("Only admins can see someone else's history.")
        if page < 1:
            raise BadParameter("page", f"`page` starts at 1; {page} is not a page.")
        jobs, total = await self.storage.user_jobs(
            target, who.guild_id, offset=(page - 1) * HISTORY_PAGE, limit=HISTORY_PAGE
        )
        pages = max(1, math.ceil(total / HISTORY_PAGE))
        if page > pages:
            raise BadParameter(
                "page", f"Page {page} is past the end: there {_pages(pages)}, from 1 to {pages}."
            )
        return HistoryPage(target, page, pages, total, jobs)

    # moderation

    async def check_not_banned(self, who: Requester) -> None:
        """``Banned`` with the reason when the user is banned here or in every server."""
        self._refuse_banned(who, await self.storage.ban_reason(who.guild_id, who.user_id))

    def _refuse_banned(self, who: Requester, found: tuple[str, bool] | None) -> None:
        if found is None or who.is_owner or who.user_id in self.owner_ids:
            return
        reason, everywhere = found
        where = "in every server" if everywhere else "in this server"
        because = f" Reason: {reason}" if reason else ""
        raise Banned(f"You are banned from using this bot {where}.{because}")

    async def _check_words(self, who: Requester, new: NewJob, sources: tuple[Text, Text]) -> None:
        """``BlockedPrompt`` when the prompt or negative holds a word this server blocks,
        saying which text it was found in (never the word: that would teach the way around).

        The matcher is linear in the text's length, and it runs off the event loop all
        the same: a server's list may be long and a prompt 1,500 characters."""
        entries = self._blocked.get(new.guild_id)
        if entries is None:
            generation = self._word_changes
            entries = tuple(await self.storage.blocked_words(new.guild_id))
            if generation == self._word_changes:  # no change landed while it was read
                self._blocked[new.guild_id] = entries
        if not entries:
            return

        def scan() -> tuple[Text, str] | None:
            blocklist = compiled_blocklist(entries)
            for source, text in zip(sources, (new.prompt, new.negative), strict=True):
                found = blocklist.find(text) if text else None
                if found is not None:
                    return source, found
            return None

        hit = await asyncio.to_thread(scan)
        if hit is None:
            return
        source, found = hit
        await self.storage.add_audit(
            new.guild_id, None, "blocked_prompt", str(who.user_id), f"{found!r} in {source}"
        )
        raise BlockedPrompt(_BLOCKED_MESSAGES[source].format(job=new.parent_id))

    async def _admin(self, who: Requester) -> int:
        """The server an admin acts in; ``NotAllowed`` for anyone else, ``Banned`` for a
        banned admin (who therefore cannot lift their own ban either)."""
        if not who.is_admin or who.guild_id is None:
            raise NotAllowed("Only this server's admins can do that.")
        await self.check_not_banned(who)
        return who.guild_id

    async def _audit(
        self, who: Requester, action: str, target: str, details: str = "", *, guild_id: int | None
    ) -> None:
        """A log row in the server the action concerns (an owner acting from another
        server leaves it in the log of the job's own server)."""
        await self.storage.add_audit(guild_id, who.user_id, action, target, details)

    async def ban(
        self, who: Requester, user_id: int, reason: str = "", *, everywhere: bool = False
    ) -> list[int]:
        """Ban ``user_id`` here (``everywhere``: in every server, also those joined later;
        owners only); their queued and running jobs there are cancelled (returns those ids)."""
        guild_id = await self._admin(who)
        if everywhere and not who.is_owner:
            raise NotAllowed("Only the bot's owners can ban someone in every server.")
        if user_id in self.owner_ids:
            raise NotAllowed("The bot's owners can't be banned.")
        reason = reason.strip()[:500]
        # Under the admission lock: no job of theirs can be admitted between the ban and
        # the list of jobs to cancel (admission checks bans again under the same lock).
        async with self._admission:
            await self.storage.ban(
                ALL_SERVERS if everywhere else guild_id, user_id, reason, who.user_id
            )
            jobs = await self.storage.jobs_with_status(
                JobStatus.QUEUED,
                JobStatus.RUNNING,
                scope=EVERYWHERE if everywhere else guild_id,
                user_id=user_id,
            )
        cancelled = [job.id for job in jobs if self.engine.cancel(job.id)]
        for job_id in cancelled:
            await self.wait(job_id)
        where = "everywhere" if everywhere else "here"
        await self._audit(
            who,
            "ban",
            str(user_id),
            f"{where}: {reason} (cancelled {cancelled})",
            guild_id=guild_id,
        )
        return cancelled

    async def unban(self, who: Requester, user_id: int) -> tuple[bool, bool]:
        """Lift a ban here (an owner also lifts a ban in every server). Returns whether a
        ban was lifted, and whether one in every server still holds."""
        guild_id = await self._admin(who)
        lifted = await self.storage.unban(guild_id, user_id)
        if who.is_owner:
            lifted = await self.storage.unban(ALL_SERVERS, user_id) or lifted
        still = await self.storage.ban_reason(guild_id, user_id)
        await self._audit(
            who, "unban", str(user_id), "" if lifted else "was not banned", guild_id=guild_id
        )
        return lifted, still is not None

    async def set_quota(self, who: Requester, daily: int, user_id: int | None = None) -> None:
        """A user's daily limit here, or without ``user_id`` the server's default."""
        guild_id = await self._admin(who)
        if daily < 0:
            raise BadParameter("daily", "`daily` is a number of jobs: 0 or more.")
        await self.storage.set_quota(guild_id, user_id, daily)
        target = str(user_id) if user_id else "server"
        await self._audit(who, "quota", target, str(daily), guild_id=guild_id)

    async def banword(self, who: Requester, action: str, word: str | None) -> list[str] | bool:
        """``add``/``remove`` a blocked word or phrase (True when it changed), or ``list``."""
        guild_id = await self._admin(who)
        if action == "list":
            return await self.storage.blocked_words(guild_id)
        if action not in ("add", "remove"):
            raise BadParameter("action", "`action` is one of add, remove, list.")
        if not (word or "").strip():
            raise BadParameter("word", f"`{action}` needs a `word` (a word or a phrase).")
        try:
            phrase = check_entry(word or "")
        except ValueError as exc:
            raise BadParameter("word", str(exc)) from None
        if action == "add":
            count = await self.storage.count_blocked_words(guild_id)
            if count >= self.max_blocked_words:
                raise BadParameter(
                    "word",
                    f"This server already blocks {count} words and phrases, the most it may "
                    "have. Remove some first (`/admin banword action:list`).",
                )
            changed = await self.storage.add_blocked_word(guild_id, phrase, who.user_id)
        else:
            changed = await self.storage.remove_blocked_word(guild_id, phrase)
        self._word_changes += 1
        self._blocked.pop(guild_id, None)
        details = "" if changed else "no change"
        await self._audit(who, f"banword_{action}", phrase, details, guild_id=guild_id)
        return changed

    async def queue(self, who: Requester) -> list[tuple[Job, int | None]]:
        """Every queued and running job of this server (owners: of all), with its position."""
        await self._admin(who)
        positions = self.engine.positions()
        active = await self.storage.jobs_with_status(
            JobStatus.QUEUED, JobStatus.RUNNING, scope=who.scope
        )
        return sorted(
            ((job, positions.get(job.id)) for job in active),
            key=lambda pair: (pair[1] is None, pair[1] or 0, pair[0].id),
        )

    async def admin_cancel(self, who: Requester, job_id: int) -> Job:
        """Cancel a queued or running job of this server (admins), with an audit row."""
        await self._admin(who)
        job = await self.cancel(job_id, who)
        await self._audit(
            who, "cancel", f"job {job_id}", f"of user {job.user_id}", guild_id=job.guild_id
        )
        return job

    async def purge(self, who: Requester, job_id: int) -> Job:
        """Delete a finished job's images (admins of its server); its buttons then say so."""
        await self._admin(who)
        job = await self.get_job(job_id, who)
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            raise UserError(f"Job {job_id} is still {job.status}: cancel it first.")
        removed = await self.storage.purge_job(job_id)
        await self._audit(
            who,
            "purge",
            f"job {job_id}",
            f"{removed} files of user {job.user_id}",
            guild_id=job.guild_id,
        )
        return await self.get_job(job_id, who)

    async def audit(self, who: Requester, page: int = 1) -> tuple[list[AuditRow], int, int]:
        """A page of this server's moderation log, newest first: rows, page, pages."""
        guild_id = await self._admin(who)
        if page < 1:
            raise BadParameter("page", f"`page` starts at 1; {page} is not a page.")
        rows, total = await self.storage.audit_page(
            guild_id, offset=(page - 1) * HISTORY_PAGE, limit=HISTORY_PAGE
        )
        pages = max(1, math.ceil(total / HISTORY_PAGE))
        if page > pages:
            raise BadParameter(
                "page", f"Page {page} is past the end: there {_pages(pages)}, from 1 to {pages}."
            )
        return rows, page, pages

    # children

    async def _source_image(self, parent: Job, index: int | None) -> ImageRow:
        _refuse_purged(parent)
        if parent.status != JobStatus.DONE:
            raise UnknownJob(
                f"Job {parent.id} has no images to use ({parent.status}); "
                "wait for it to finish or start a new one."
            )
        rows = await self.storage.images(parent.id)
        match = [row for row in rows if row.index == index]
        if not match:
            raise UnknownJob(f"Job {parent.id} has no image {index}.")
        if not await asyncio.to_thread(self.storage.absolute(match[0].path).is_file):
            raise UnknownJob(f"The images of job {parent.id} are no longer kept.")
        return match[0]

    def _child(
        self, who: Requester, parent: Job, kind: str, index: int | None, seed: int, **params: Any
    ) -> NewJob:
        merged = {**parent.params, "model": self.model_name, **params}
        return NewJob(
            kind=kind,
            user_id=who.user_id,
            guild_id=who.guild_id,
            channel_id=who.channel_id,
            prompt=parent.prompt,
            negative=parent.negative,
            seed=seed,
            params=merged,
            parent_id=parent.id,
            parent_index=index,
        )

    async def _reroll(self, who: Requester, parent: Job) -> Job:
        _refuse_purged(parent)
        return await self._create(
            who, self._child(who, parent, JobKind.REROLL, None, secrets.randbelow(2**32))
        )

    async def _vary(self, who: Requester, parent: Job, source: ImageRow, strength: float) -> Job:
        # Variations come out at the grid's size, also when made from an upscaled image.
        width = parent.params.get("base_width", source.width)
        height = parent.params.get("base_height", source.height)
        new = self._child(
            who,
            parent,
            JobKind.VARIATION,
            source.index,
            secrets.randbelow(2**32),
            width=width,
            height=height,
            base_width=width,
            base_height=height,
            num_images=GRID_SIZE,
            strength=strength,
            steps=_steps_for(parent.params["steps"], strength),
            mode="strong" if strength == STRONG_VARIATION else "subtle",
            source_job=parent.id,
            source_index=source.index,
        )
        return await self._create(who, new)

    async def _upscale(
        self, who: Requester, parent: Job, source: ImageRow, *, creative: bool
    ) -> Job:
        # Both kinds stop at MAX_UPSCALE_SIDE (SDXL at --ar 4:1 would otherwise be 4096 px).
        factor = min(UPSCALE_FACTOR, self.max_upscale_side / max(source.width, source.height))
        width, height = scaled_size(source.width, source.height, factor)
        if width <= source.width or height <= source.height:
            raise UserError(
                f"This image is already {source.width}x{source.height}, at the largest "
                f"size I make ({self.max_upscale_side} px on its longer side)."
            )
        strength = CREATIVE_UPSCALE_STRENGTH if creative else UPSCALE_STRENGTH
        new = self._child(
            who,
            parent,
            JobKind.UPSCALE,
            source.index,
            source.seed,
            width=width,
            height=height,
            num_images=1,
            strength=strength,
            steps=_steps_for(parent.params["steps"], strength),
            mode="creative" if creative else "standard",
            source_job=parent.id,
            source_index=source.index,
        )
        return await self._create(who, new)

    # running

    async def _create(
        self,
        who: Requester,
        new: NewJob,
        *,
        sources: tuple[Text, Text] = _CHILD_TEXTS,
        checked: bool = False,
    ) -> Job:
        """Admit a job: the cheap checks first (ban, quota, limits; ``checked``: the
        caller made them), then the blocked words (off the loop), then the counts again
        and the insert, together with the jobs admitted at the same moment."""
        if not checked:
            await self._check_admission(who)
        await self._check_words(who, new, sources)
        waiter: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self._to_commit.append((who, new, waiter))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting(), name="admission")
        return await waiter

    async def _commit_waiting(self) -> None:
        """Commit the jobs waiting for admission, a batch at a time, under the admission
        lock (a ban takes it too). A burst of commands costs a few round trips to the
        database, not a few per command: each one waits for the GIL and the cores while
        the worker runs the model, and Discord's 3 s run for every one of them."""
        async with self._admission:
            while self._to_commit:
                batch = self._to_commit[:_ADMISSION_BATCH]
                del self._to_commit[:_ADMISSION_BATCH]
                try:
                    await self._commit_batch(batch)
                except BaseException as error:
                    failed = batch + (self._to_commit if _stopping(error) else [])
                    for _, _, waiter in failed:
                        if waiter.done():
                            continue
                        if isinstance(error, Exception):
                            waiter.set_exception(error)
                        else:
                            waiter.cancel()
                    if _stopping(error):
                        self._to_commit.clear()
                        raise

    async def _commit_batch(self, batch: list[_Admission]) -> None:
        """Check each job again on one fresh read (a ban or a job that landed since its
        first check counts, and so do the jobs before it in the batch), then write those
        that pass in one transaction, hand them to the engine and answer their callers."""
        day_start = self._day_start()
        reads = await self.storage.admission_counts_many(
            [(who.user_id, who.guild_id) for who, _, _ in batch], day_start
        )
        here: Counter[tuple[int, int | None]] = Counter()
        mine: Counter[int] = Counter()
        passed: list[_Admission] = []
        for (who, new, waiter), read in zip(batch, reads, strict=True):
            counts = dataclasses.replace(
                read,
                used_here=read.used_here + here[who.user_id, who.guild_id],
                used_everywhere=read.used_everywhere + mine[who.user_id],
                active_mine=read.active_mine + mine[who.user_id],
                queued_all=read.queued_all + len(passed),
            )
            try:
                self._refuse(who, counts, day_start)
            except UserError as refusal:
                if not waiter.done():
                    waiter.set_exception(refusal)
                continue
            here[who.user_id, who.guild_id] += 1
            mine[who.user_id] += 1
            passed.append((who, new, waiter))
        jobs = await self.storage.create_jobs([new for _, new, _ in passed])
        for (_, _, waiter), job in zip(passed, jobs, strict=True):
            # Committed: it runs whether or not its caller is still waiting for it.
            logger.info("job %s queued: %s by user %s", job.id, job.kind, job.user_id)
            self._launch(job)
            self._emit(JobEvent("queued", job))
            if not waiter.done():
                waiter.set_result(job)

    def spec_for(self, job: Job) -> JobSpec:
        """The engine's view of a job row."""
        p = job.params
        source = None
        if p.get("source_job") is not None:
            source = self.storage.image_path(p["source_job"], p["source_index"])
        return JobSpec(
            job_id=job.id,
            prompt=job.prompt,
            negative=job.negative,
            width=int(p["width"]),
            height=int(p["height"]),
            steps=int(p["steps"]),
            guidance=float(p["guidance"]),
            seed=job.seed,
            num_images=int(p.get("num_images", GRID_SIZE)),
            source_image=source,
            strength=float(p.get("strength", 1.0)),
            owner=job.user_id,
        )

    def _launch(self, job: Job) -> None:
        """Hand the job to the engine now (so its queue position is known at once)."""
        spec = self.spec_for(job)
        started: list[asyncio.Task] = []

        def on_start() -> None:
            started.append(self._spawn(self._started(job.id)))

        def on_progress(progress: Progress) -> None:
            self._emit(JobEvent("progress", job, progress))

        output = self.engine.submit(spec, on_progress, on_start)
        task = asyncio.create_task(self._run(job, spec, output, started), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))

    async def _run(
        self, job: Job, spec: JobSpec, pending: asyncio.Future, started: list[asyncio.Task]
    ) -> None:
        error: str | None = None
        status = JobStatus.DONE
        try:
            output = await pending
            rows = await asyncio.to_thread(self._write_images, job, spec, output)
            await self.storage.add_images(rows)
        except asyncio.CancelledError:
            raise  # the service is stopping: the row stays as it is, for the next start
        except JobCancelled:
            status = JobStatus.CANCELLED
        except Exception as exc:
            # The details are for the log; users read a short reason that names no path.
            logger.exception("job %s failed", job.id)
            status, error = JobStatus.FAILED, failure_reason(exc)
        if started:
            await started[0]
        await self.storage.finish_job(job.id, status, error)
        logger.info("job %s %s", job.id, status)
        final = await self.job(job.id)
        self._wake(final)
        self._emit(JobEvent("finished", final))

    async def _started(self, job_id: int) -> None:
        await self.storage.mark_running(job_id)
        self._emit(JobEvent("started", await self.job(job_id)))

    def _write_images(self, job: Job, spec: JobSpec, output: JobOutput) -> list[ImageRow]:
        """Encode each image as PNG with its recipe, and the grid; runs off the loop."""
        images = output.images
        flags = output.nsfw or [False] * len(images)
        rows = []
        sampler = type(self.engine.model.text2img.scheduler).__name__
        for index, (image, seed) in enumerate(zip(images, spec.seeds, strict=True), start=1):
            recipe = image_recipe(job, spec, seed, index, sampler)
            path = self.storage.image_path(job.id, index)
            self.storage.write_file(path, encode_png(image, recipe))
            rows.append(
                ImageRow(
                    job_id=job.id,
                    index=index,
                    path=str(path.relative_to(self.storage.data_dir)),
                    width=image.width,
                    height=image.height,
                    seed=seed,
                    nsfw=flags[index - 1],
                )
            )
        if len(images) == GRID_SIZE:
            grid_text = {"prompt": job.prompt, "job": str(job.id), "Software": "imaginebot"}
            self.storage.write_file(
                self.storage.grid_path(job.id), encode_png(compose_grid(images), grid_text)
            )
        return rows

    def _wake(self, job: Job) -> None:
        for waiter in self._waiters.pop(job.id, []):
            if not waiter.done():
                waiter.set_result(job)

    def _emit(self, event: JobEvent) -> None:
        for listener in self._listeners:
            self._spawn(listener(event))

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)

        def done(finished: asyncio.Task) -> None:
            self._background.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                logger.error("job event handler failed", exc_info=finished.exception())

        task.add_done_callback(done)
        return task


def image_recipe(job: Job, spec: JobSpec, seed: int, index: int, sampler: str) -> dict[str, str]:
    """PNG text metadata: the fields one by one, and A1111's ``parameters`` chunk."""
    model = str(job.params.get("model", ""))
    recipe = {
        "prompt": job.prompt,
        "negative": job.negative,
        "seed": str(seed),
        "steps": str(spec.steps),
        "guidance": f"{spec.guidance:g}",
        "size": f"{spec.width}x{spec.height}",
        "model": model,
        "job": str(job.id),
        "index": str(index),
        "kind": job.kind,
        "Software": "imaginebot",
    }
    line = (
        f"Steps: {spec.steps}, Sampler: {sampler}, CFG scale: {spec.guidance:g}, Seed: {seed}, "
        f"Size: {spec.width}x{spec.height}, Model: {model}"
    )
    if spec.source_image is not None:
        recipe["strength"] = f"{spec.strength:g}"
        line += f", Denoising strength: {spec.strength:g}"
    negative = f"\nNegative prompt: {job.negative}" if job.negative else ""
    recipe["parameters"] = f"{job.prompt}{negative}\n{line}"
    return recipe


def failure_reason(exc: BaseException) -> str:
    """What a failed job tells its owner in Discord: short, generic, no paths or internals
    (the log has the traceback, with the job id)."""
    if isinstance(exc, FileNotFoundError):
        return "the source image is no longer kept"
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "the GPU ran out of memory"
    return "the image generator hit an error"


def _stopping(error: BaseException) -> bool:
    """Whether ``error`` stops the task (cancelled, or the process is exiting)."""
    return not isinstance(error, Exception)


def _refuse_purged(job: Job) -> None:
    if job.purged_at is not None:
        raise UnknownJob(f"The images of job {job.id} were removed by an admin.")


def _aspect(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    width, height = value.split(":")
    return int(width), int(height)


def _pages(count: int) -> str:
    return "is 1 page" if count == 1 else f"are {count} pages"


def _steps_for(steps: int, strength: float) -> int:
    """Enough steps that image-to-image runs at least one (turbo: steps x strength >= 1)."""
    return max(int(steps), math.ceil(1 / strength - 1e-9))


def scaled_size(width: int, height: int, factor: float, multiple: int = 8) -> tuple[int, int]:
    """``width`` x ``height`` scaled by at most ``factor``, both sides multiples of
    ``multiple`` (the VAE's), keeping the exact aspect ratio when any such size fits."""
    divisor = math.gcd(width, height)
    a, b = width // divisor, height // divisor
    # (a*m, b*m) has both sides multiples of ``multiple`` when m is a multiple of step.
    step = math.lcm(multiple // math.gcd(multiple, a), multiple // math.gcd(multiple, b))
    m = int(min(width, height) * factor / min(a, b) // step * step)
    if m * min(a, b) > min(width, height):  # a bigger size that keeps the ratio exactly
        return a * m, b * m
    # No exact size is bigger: round each side down on its own.
    return (
        max(multiple, int(width * factor) // multiple * multiple),
        max(multiple, int(height * factor) // multiple * multiple),
    )

"""Admission: the checks a job passes before it exists, and the commit that makes it exist.

Ban, quota here and across servers, limits, blocked words; then the job row, committed,
before anyone is told anything (the first answer a user sees is a promise). Jobs that
arrive together are checked again and committed together, under one lock that a ban
takes too.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.batches import create_rows
from core.blocked import PARENT_TEXTS, BlockedWords, Text
from core.errors import (
    Banned,
    FastTimeUsedUp,
    GroupRefused,
    QueueFull,
    QuotaExceeded,
    UserError,
)
from core.fast_time import FastBatch, Rates
from core.limits import Limits
from core.model import (
    AdmissionCounts,
    EventKind,
    Job,
    JobEvent,
    NewJob,
    QuotaStatus,
    Requester,
)
from core.retention import refuse_gone_folders
from core.runner import Runner
from storage.db import Storage

logger = logging.getLogger(__name__)


# Jobs past their first checks, waiting for the batch that commits them: one request's
# jobs (several for ``--repeat`` and ``{}``), admitted all together or not at all.
_Waiting = tuple[Requester, list[NewJob], "asyncio.Future[list[Job]]"]
# Jobs committed per transaction at most (the insert's parameters stay well under
# SQLite's limit).
_BATCH = 100


class Admission:
    """Checks requests and commits the jobs that pass; hands them to the runner."""

    def __init__(
        self,
        storage: Storage,
        limits: Limits,
        runner: Runner,
        words: BlockedWords | None = None,
    ) -> None:
        self.storage = storage
        self.limits = limits
        self.runner = runner
        self.words = words or BlockedWords(storage)  # each server's, checked off the loop
        self.rates = Rates()  # GPU seconds per unit of work by model, measured (fast time)
        runner.add_listener(self.rates.on_event)
        # Checks that count jobs and the insert they guard run under one lock, so that
        # jobs submitted at the same instant cannot all pass a limit that only one fits.
        self.lock = asyncio.Lock()
        self._waiting: list[_Waiting] = []  # past their first checks, in order
        self._committer: asyncio.Task | None = None

    async def stop(self) -> None:
        """Stop committing: a commit in flight is cancelled (its jobs' callers are told;
        a transaction cut short is rolled back whole)."""
        if self._committer is not None and not self._committer.done():
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        self.words.close()

    @property
    def waiting(self) -> int:
        """Requests past their first checks, waiting for the commit."""
        return len(self._waiting)

    async def settled(self) -> None:
        """Until every request waiting now has been committed or refused (its jobs
        handed to the runner), whether or not its caller is still waiting."""
        while self._committer is not None and not self._committer.done():
            await asyncio.wait({self._committer})

    async def quota(self, who: Requester) -> QuotaStatus:
        """The caller's daily quota here (limit None: unlimited, for admins), the quota
        across every server (``GLOBAL_DAILY_QUOTA``, admins included, owners exempt),
        and when both reset (midnight UTC)."""
        day_start = self.day_start()
        counts = await self.storage.admission_counts(
            who.user_id, who.guild_id, day_start, self.limits.video_cost
        )
        return quota_status(self.limits, who, counts, day_start)

    async def check(self, who: Requester, jobs: int = 1, cost: int = 1) -> AdmissionCounts:
        """The checks of ``_refuse`` on a fresh read, for the first of ``jobs`` jobs of
        one request (the commit checks them all), each of ``cost`` quota units (a clip's
        ``VIDEO_COST``: its refusal says so); returns the counts (with the user's
        /settings) for the caller to use."""
        day_start = self.day_start()
        counts = await self.storage.admission_counts(
            who.user_id, who.guild_id, day_start, self.limits.video_cost
        )
        try:
            self._refuse(who, counts, day_start, cost)
        except UserError as refusal:
            raise _for_the_group(refusal, jobs, 0) from None
        return counts

    async def check_not_banned(self, who: Requester) -> None:
        """``Banned`` with the reason when the user is banned here or in every server."""
        self.refuse_banned(who, await self.storage.ban_reason(who.guild_id, who.user_id))

    def refuse_banned(self, who: Requester, found: tuple[str, bool] | None) -> None:
        """``Banned`` for a ban ``found`` (as storage reads it), unless ``who`` is an owner."""
        if found is None or who.is_owner or who.user_id in self.limits.owner_ids:
            return
        reason, everywhere = found
        where = "in every server" if everywhere else "in this server"
        because = f" Reason: {reason}" if reason else ""
        raise Banned(f"You are banned from using this bot {where}.{because}")

    async def admit(
        self,
        who: Requester,
        new: NewJob,
        *,
        sources: tuple[Text, Text] = PARENT_TEXTS,
        checked: bool = False,
    ) -> Job:
        """Admit a job: the cheap checks first (ban, quota, limits), then the blocked words
        (off the loop; ``checked``: the caller made both), then the counts again and the
        insert, together with the jobs admitted at the same moment."""
        [job] = await self.admit_all(who, [new], sources=sources, checked=checked)
        return job

    async def admit_all(
        self,
        who: Requester,
        news: list[NewJob],
        *,
        sources: tuple[Text, Text] = PARENT_TEXTS,
        checked: bool = False,
    ) -> list[Job]:
        """Admit one request's jobs all together or none: each counts as one job against
        the quotas and limits, and if they do not all fit, ``GroupRefused`` says how many
        would."""
        if not checked:  # else the caller made these checks, and the word checks
            await self.check(who, cost=cost_of(self.limits, news[0]))
            texts = [(new.prompt, new.negative) for new in news]
            await self.words.check_all(who, texts, sources, news[0].parent_id)
        for new in news:  # an older job's folder it reads, gone (KEEP_IMAGES_DAYS, a purge)
            await refuse_gone_folders(self.storage, new)
        waiter: asyncio.Future[list[Job]] = asyncio.get_running_loop().create_future()
        self._waiting.append((who, list(news), waiter))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting(), name="admission")
        return await waiter

    async def _commit_waiting(self) -> None:
        """Commit the jobs waiting for admission, a batch at a time, under the admission
        lock (a ban takes it too). A burst of commands costs a few round trips to the
        database, not a few per command: each one waits for the GIL and the cores while
        the worker runs the model, and Discord's 3 s run for every one of them."""
        async with self.lock:
            while self._waiting:
                batch = self._waiting[:_BATCH]
                del self._waiting[:_BATCH]
                try:
                    await self._commit_batch(batch)
                except BaseException as error:
                    failed = batch + (self._waiting if _stopping(error) else [])
                    for _, _, waiter in failed:
                        if waiter.done():
                            continue
                        if isinstance(error, Exception):
                            waiter.set_exception(error)
                        else:
                            waiter.cancel()
                    if _stopping(error):
                        self._waiting.clear()
                        raise

    async def _commit_batch(self, batch: list[_Waiting]) -> None:
        """Check each request again on one fresh read (a ban or a job that landed since
        its first check counts, and so do the jobs before it in the batch), then write
        those that pass in one transaction, hand them to the engine and answer their
        callers. A request's jobs pass together or are refused together."""
        day_start = self.day_start()
        reads = await self.storage.admission_counts_many(
            [(who.user_id, who.guild_id) for who, _, _ in batch], day_start, self.limits.video_cost
        )
        # What the batch's earlier requests add: quota units (a clip counts VIDEO_COST)
        # here and everywhere, and jobs (queued or running) of each user and in all.
        here: Counter[tuple[int, int | None]] = Counter()
        spent: Counter[int] = Counter()
        mine: Counter[int] = Counter()
        passed: list[_Waiting] = []
        admitted = 0  # jobs that passed so far, in the whole batch
        fast = FastBatch(self.limits, self.rates, day_start)  # each job's mode, estimate
        for (who, news, waiter), read in zip(batch, reads, strict=True):
            fitted = cost = 0
            try:
                for new in news:
                    counts = dataclasses.replace(
                        read,
                        used_here=read.used_here + here[who.user_id, who.guild_id] + cost,
                        used_everywhere=read.used_everywhere + spent[who.user_id] + cost,
                        active_mine=read.active_mine + mine[who.user_id] + fitted,
                        queued_all=read.queued_all + admitted + fitted,
                    )
                    self._refuse(who, counts, day_start, cost_of(self.limits, new))
                    fitted, cost = fitted + 1, cost + cost_of(self.limits, new)
                news = fast.place(who, read, news)
            except UserError as refusal:
                if not waiter.done():  # fast time and relax room: how many they fitted
                    fitted = fitted if refusal.fitted is None else refusal.fitted
                    waiter.set_exception(_for_the_group(refusal, len(news), fitted))
                continue
            fast.commit(who, news)
            here[who.user_id, who.guild_id] += cost
            spent[who.user_id] += cost
            mine[who.user_id] += fitted
            admitted += fitted
            passed.append((who, news, waiter))
        # One bad row (a text the database will not take) fails its own request only.
        for (_, news, waiter), group in await create_rows(self.storage, passed):
            await _write_sources(self.storage, news, group)
            for job in group:
                # Committed: it runs whether or not its caller is still waiting for it.
                logger.info("job %s queued: %s by user %s", job.id, job.kind, job.user_id)
                self.runner.launch(job)
                self.runner.emit(JobEvent(EventKind.QUEUED, job))
            if not waiter.done():
                waiter.set_result(group)

    def day_start(self) -> datetime:
        """Midnight UTC today, by the storage's clock: when quotas and fast time renew."""
        now = self.storage.clock().astimezone(UTC)
        return now.replace(hour=0, minute=0, second=0, microsecond=0)

    def _refuse(
        self, who: Requester, counts: AdmissionCounts, day_start: datetime, cost: int = 1
    ) -> None:
        """``Banned``, ``QuotaExceeded`` or ``QueueFull``, in that order; ``cost``: the
        quota units the job needs (a clip's ``VIDEO_COST``)."""
        self.refuse_banned(who, counts.ban)
        status = quota_status(self.limits, who, counts, day_start)
        reset = status.resets_at.strftime("%H:%M UTC")
        if status.limit is not None and status.used + cost > status.limit:
            if status.limit == 0:
                message = "You can't start jobs in this server (your daily limit is 0)."
            elif cost > 1:
                message = (
                    f"A clip counts as {cost} jobs and you have "
                    f"{max(0, status.limit - status.used)} of your {status.limit} left today. "
                    f"Your quota resets at {reset}."
                )
            else:
                message = (
                    f"You have used your {status.limit} jobs for today ({status.used} used). "
                    f"Your quota resets at {reset}."
                )
            raise QuotaExceeded(
                message, limit=status.limit, used=status.used, resets_at=status.resets_at, cost=cost
            )
        if status.global_limit is not None and status.global_used + cost > status.global_limit:
            raise QuotaExceeded(
                f"You have used your {status.global_limit} jobs for today across all servers "
                f"({status.global_used} used). Your quota resets at {reset}." + _clip_cost(cost),
                limit=status.global_limit,
                used=status.global_used,
                resets_at=status.resets_at,
                everywhere=True,
                cost=cost,
            )
        mine = counts.active_mine
        if mine >= self.limits.max_queued_per_user:
            raise QueueFull(
                f"You already have {mine} jobs queued or running; the most is "
                f"{self.limits.max_queued_per_user}. Wait for one to finish, then try again."
            )
        if counts.queued_all >= self.limits.max_queue:
            raise QueueFull(
                f"The queue is full ({counts.queued_all} jobs waiting). "
                "Please try again in a few minutes."
            )


async def _write_sources(storage: Storage, news: list[NewJob], jobs: list[Job]) -> None:
    """Image prompts and references: each job's into its own folder, before it can
    run. A write that fails (a full disk) leaves the job to fail alone with that
    reason."""
    for new, job in zip(news, jobs, strict=True):
        try:
            for path, data in _input_files(storage, new, job.id):
                await asyncio.to_thread(storage.write_file, path, data)
        except OSError as exc:
            logger.error("job %s: could not store its images: %s", job.id, exc)


def _for_the_group(refusal: UserError, count: int, fitted: int) -> UserError:
    """A refusal of one of ``count`` jobs of a request: for a single job, itself; for
    several, none starts and the answer says how many would have fitted (a ban is a ban,
    however many jobs)."""
    if count == 1 or isinstance(refusal, Banned | FastTimeUsedUp):  # none of them can run
        return refusal
    would = "none would" if fitted == 0 else f"only {fitted} would"
    return GroupRefused(
        f"This prompt makes {count} jobs and they do not all fit ({would}), so none "
        f"started. {refusal.message}"
    )


def _stopping(error: BaseException) -> bool:
    """Whether ``error`` stops the task (cancelled, or the process is exiting)."""
    return not isinstance(error, Exception)


def quota_status(
    limits: Limits, who: Requester, counts: AdmissionCounts, day_start: datetime
) -> QuotaStatus:
    """``who``'s quota here and everywhere from ``counts`` (limit None: unlimited)."""
    global_limit = None
    if not who.is_owner and limits.global_daily_quota:
        global_limit = limits.global_daily_quota
    limit = None
    if not who.is_admin:
        limit = next(
            v for v in (counts.override, counts.server_default, limits.daily_quota) if v is not None
        )
    return QuotaStatus(
        limit,
        counts.used_here,
        day_start + timedelta(days=1),
        global_limit,
        counts.used_everywhere if global_limit is not None else 0,
    )


def cost_of(limits: Limits, new: NewJob) -> int:
    """Jobs a new job counts as against the daily quotas: a clip ``VIDEO_COST``."""
    return limits.video_cost if new.params.frames else 1


def _clip_cost(cost: int) -> str:
    return f" A clip counts as {cost} jobs." if cost > 1 else ""


def _input_files(storage: Storage, new: NewJob, job_id: int) -> list[tuple[Path, bytes]]:
    """The files a new job keeps beside it: its references (``ref-<slot>.png``) and its
    image prompt (``source.png``)."""
    files = [
        (storage.reference_path(job_id, slot), data)
        for slot, data in enumerate(new.reference_pngs, start=1)
    ]
    if new.source_png is not None:
        files.append((storage.source_path(job_id), new.source_png))
    return files

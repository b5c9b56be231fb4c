"""What a server's admins (and the bot's owners) do: bans, quotas, blocked words, the
queue, purges and the log. Every action stays in its own server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta

from core.admission import Admission
from core.errors import BadParameter, NotAllowed, UserError
from core.jobs import Jobs
from core.limits import Limits
from core.model import ALL_SERVERS, EVERYWHERE, AuditRow, Job, JobStatus, Requester
from core.paging import PAGE_SIZE, page_count, page_offset
from core.prompt import check_storable
from core.runner import Runner
from core.stats import MAX_DAYS, Stats
from core.wordfilter import check_entry
from engine import Engine
from storage.db import Storage

MAX_FAST_MINUTES = 1440  # a day's minutes: more is a typo


@dataclass(eq=False)
class Moderation:
    """Admin commands, each refused to anyone who is not an admin of this server."""

    storage: Storage
    engine: Engine
    limits: Limits
    admission: Admission
    runner: Runner
    jobs: Jobs

    async def _admin(self, who: Requester) -> int:
        """The server an admin acts in; ``NotAllowed`` for anyone else, ``Banned`` for a
        banned admin (who therefore cannot lift their own ban either)."""
        if not who.is_admin or who.guild_id is None:
            raise NotAllowed("Only this server's admins can do that.")
        await self.admission.check_not_banned(who)
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
        if user_id in self.limits.owner_ids:
            raise NotAllowed("The bot's owners can't be banned.")
        reason = check_storable(reason.strip()[:500], "reason")
        # Under the admission lock: no job of theirs can be admitted between the ban and
        # the list of jobs to cancel (admission checks bans again under the same lock).
        async with self.admission.lock:
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
            await self.runner.wait(job_id)
        where = "everywhere" if everywhere else "here"
        details = f"{where}: {reason} (cancelled {cancelled})"
        await self._audit(who, "ban", str(user_id), details, guild_id=guild_id)
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

    async def set_quota(
        self,
        who: Requester,
        daily: int | None,
        user_id: int | None = None,
        minutes: float | None = None,
    ) -> None:
        """A user's daily limits here (jobs, fast GPU-minutes), or without ``user_id``
        the server's defaults."""
        guild_id = await self._admin(who)
        if daily is None and minutes is None:
            raise BadParameter(
                "daily", "Give `daily` (jobs a day), `minutes` (fast minutes), or both."
            )
        if daily is not None and daily < 0:
            raise BadParameter("daily", "`daily` is a number of jobs: 0 or more.")
        if minutes is not None and not 0 <= minutes <= MAX_FAST_MINUTES:
            raise BadParameter(
                "minutes", f"`minutes` is 0 to {MAX_FAST_MINUTES} fast minutes a day."
            )
        target = str(user_id) if user_id else "server"
        if daily is not None:
            await self.storage.set_quota(guild_id, user_id, daily)
            await self._audit(who, "quota", target, str(daily), guild_id=guild_id)
        if minutes is not None:
            await self.storage.set_fast_minutes(guild_id, user_id, float(minutes))
            await self._audit(who, "quota", target, f"{minutes:g} fast minutes", guild_id=guild_id)

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
            # The limit is checked in the insert itself: adds at the same moment hold it.
            added = await self.storage.add_blocked_word(
                guild_id, phrase, who.user_id, limit=self.limits.max_blocked_words
            )
            if added == "full":
                count = await self.storage.count_blocked_words(guild_id)
                raise BadParameter(
                    "word",
                    f"This server already blocks {count} words and phrases, the most it may "
                    "have. Remove some first (`/admin banword action:list`).",
                )
            changed = added == "added"
        else:
            changed = await self.storage.remove_blocked_word(guild_id, phrase)
        self.admission.words.forget(guild_id)
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
        job = await self.jobs.cancel(job_id, who)
        await self._audit(
            who, "cancel", f"job {job_id}", f"of user {job.user_id}", guild_id=job.guild_id
        )
        return job

    async def purge(self, who: Requester, job_id: int) -> Job:
        """Delete a finished job's images (admins of its server); its buttons then say so."""
        await self._admin(who)
        job = await self.jobs.get_job(job_id, who)
        if not job.status.is_final:
            raise UserError(f"Job {job_id} is still {job.status}: cancel it first.")
        removed = await self.storage.purge_job(job_id)
        details = f"{removed} files of user {job.user_id}"
        await self._audit(who, "purge", f"job {job_id}", details, guild_id=job.guild_id)
        return await self.jobs.get_job(job_id, who)

    async def stats(self, who: Requester, days: int = 7) -> Stats:
        """GPU time and jobs of the last ``days`` UTC days (1..90) in this server; every
        server's for an owner."""
        guild_id = await self._admin(who)
        if not 1 <= days <= MAX_DAYS:
            raise BadParameter("days", f"`days` is 1 to {MAX_DAYS}.")
        now = self.storage.clock().astimezone(UTC)
        since = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
        everywhere = who.is_owner
        rows = await self.storage.stats(None if everywhere else guild_id, since)
        return Stats.of(rows, days, since, everywhere)

    async def audit(self, who: Requester, page: int = 1) -> tuple[list[AuditRow], int, int]:
        """A page of this server's moderation log, newest first: rows, page, pages."""
        guild_id = await self._admin(who)
        rows, total = await self.storage.audit_page(
            guild_id, skip=page_offset(page), limit=PAGE_SIZE
        )
        return rows, page, page_count(page, total)

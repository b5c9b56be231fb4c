"""What members ask about themselves: /settings, /info, /history, their quota."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from core import offer
from core.admission import Admission
from core.errors import BadParameter, NotAllowed
from core.fast_time import FAST, MODES, RELAX, FastStatus, fast_status
from core.limits import Limits
from core.model import HistoryPage, JobStatus, QuotaStatus, Requester, UserInfo
from core.outputs import Thumbnail, censored_thumbnail, ensure_thumbnail
from core.paging import PAGE_SIZE, page_count, page_offset
from core.prompt import MAX_CFG, MIN_CFG, check_negative, parse_aspect, parse_float, parse_int
from engine import Engine
from storage.db import Storage


@dataclass(eq=False)
class Users:
    """A member's defaults, quota, place in the queue and history."""

    storage: Storage
    engine: Engine
    limits: Limits
    admission: Admission

    async def quota(self, who: Requester) -> QuotaStatus:
        """The caller's daily quota here and across servers, and when both reset."""
        return await self.admission.quota(who)

    async def user_settings(self, who: Requester) -> dict[str, Any]:
        """The user's defaults: any of ``aspect``, ``steps``, ``cfg``, ``negative``,
        ``remix``, ``model``."""
        await self.admission.check_not_banned(who)
        return await self.storage.user_settings(who.user_id)

    async def update_settings(
        self,
        who: Requester,
        *,
        aspect: str | None = None,
        steps: int | None = None,
        cfg: float | None = None,
        negative: str | None = None,
        remix: bool | None = None,
        model: str | None = None,
        mode: str | None = None,
        reset: bool = False,
    ) -> dict[str, Any]:
        """Check and store the user's defaults (``reset`` clears them first)."""
        await self.admission.check_not_banned(who)
        changes: dict[str, Any] = {}
        # The same rules and messages as the prompt's own parameters.
        if aspect is not None:
            width, height = parse_aspect(aspect, "aspect")
            changes["aspect"] = f"{width}:{height}"
        if steps is not None:
            changes["steps"] = parse_int(str(steps), "steps", 1, self.limits.max_steps)
        if cfg is not None:
            changes["cfg"] = parse_float(str(cfg), "cfg", MIN_CFG, MAX_CFG)
        if negative is not None:
            changes["negative"] = check_negative(negative, "negative")
        if remix is not None:
            changes["remix"] = bool(remix)
        if mode is not None:
            changes["mode"] = self._mode(mode)
        if model is not None:  # checked as --model is, by the same message
            changes["model"], _ = offer.model_for(self.engine, model.strip().lower(), {})
        current = {} if reset else await self.storage.user_settings(who.user_id)
        updated = {**current, **changes}
        await self.storage.set_user_settings(who.user_id, updated)
        return updated

    def _mode(self, mode: str) -> str:
        """A /settings mode, checked: fast, or relax where relax is offered."""
        mode = mode.strip().lower()
        if mode not in MODES:
            raise BadParameter("mode", "`mode` is `fast` or `relax`.")
        if mode == RELAX and not self.limits.relax:
            raise BadParameter("mode", "Relax mode is off on this bot.")
        return mode

    async def fast_time(self, who: Requester) -> FastStatus:
        """The caller's fast time today here and across servers, and when it renews."""
        day_start = self.admission.day_start()
        counts = await self.storage.admission_counts(who.user_id, who.guild_id, day_start)
        return fast_status(self.limits, who, counts, day_start)

    async def remix(self, who: Requester) -> bool:
        """Whether the user turned remix on: buttons that make new images first open a
        form to edit the prompt."""
        return bool((await self.storage.user_settings(who.user_id)).get("remix"))

    async def info(self, who: Requester) -> UserInfo:
        """What /info shows: quota, the caller's jobs in the queue, the queue, the models
        and LoRAs on offer."""
        await self.admission.check_not_banned(who)
        positions = self.engine.positions()
        active = await self.storage.jobs_with_status(
            JobStatus.QUEUED, JobStatus.RUNNING, scope=who.guild_id, user_id=who.user_id
        )
        models, loras = offer.offered(self.engine)
        mine = await self.storage.user_settings(who.user_id)
        return UserInfo(
            quota=await self.quota(who),
            jobs=[(job.id, positions.get(job.id)) for job in active],
            fast=await self.fast_time(who),
            mode=str(mine.get("mode") or FAST),
            relax=[job.id for job in active if job.mode == RELAX],
            queue_length=self.engine.queue_length,
            running=sum(1 for position in positions.values() if position == 0),
            model=self.engine.model.name,
            device=self.engine.model.device,
            # The workers (devices, replicas) and why any is down: for admins only.
            workers=self.engine.workers() if who.is_admin else [],
            # A running total (core.retention): one row read, never a walk of the files.
            disk_bytes=await self.storage.disk_used() if who.is_admin else None,
            keep_images_days=self.limits.keep_images_days,
            models=models,
            loras=loras,
        )

    async def thumbnails(self, page: HistoryPage, nsfw_filter: str = "off") -> dict[int, Thumbnail]:
        """The thumbnails of a /history page's jobs that have images, by job id (made
        once per job: at its end, or here for a job from before thumbnails). With
        ``nsfw_filter`` (as it applies where the page is shown) ``blur`` or ``block``,
        a job's flagged images are blurred or grey in its thumbnail, as in its message."""
        flags: dict[int, list[bool]] = {}
        if nsfw_filter != "off":
            flags = await self.storage.nsfw_flags(job.id for job in page.jobs)

        made: dict[int, int] = {}  # the bytes of thumbnails made now: in the disk total

        def find() -> dict[int, Thumbnail]:
            found = {}
            for job in page.jobs:
                flagged = flags.get(job.id, [])
                mode = nsfw_filter if any(flagged) else ""
                there = self.storage.thumbnail_path(job.id, censored=mode).is_file()
                if mode:
                    path = censored_thumbnail(self.storage, job, flagged, nsfw_filter)
                else:
                    path = ensure_thumbnail(self.storage, job)
                if path is not None:
                    found[job.id] = Thumbnail(path, mode == "blur")
                    if not there:  # (a pass may remove it as soon as it is made)
                        with contextlib.suppress(OSError):
                            made[job.id] = path.stat().st_size
            return found

        found = await asyncio.to_thread(find)
        if made:
            await self.storage.add_disk_bytes(made)
        return found

    async def history(
        self, who: Requester, page: int = 1, *, user_id: int | None = None
    ) -> HistoryPage:
        """A page (10 jobs, newest first) of the caller's jobs here, or, for an admin,
        another user's."""
        await self.admission.check_not_banned(who)
        target = who.user_id if user_id is None else user_id
        if target != who.user_id and not who.is_admin:
            raise NotAllowed("Only admins can see someone else's history.")
        jobs, total = await self.storage.user_jobs(
            target, who.guild_id, skip=page_offset(page), limit=PAGE_SIZE
        )
        return HistoryPage(target, page, page_count(page, total), total, jobs)

"""The bounds and limits the services enforce, from settings or given by a test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on a job and limits on who may queue how much (``PRODUCT.md`` settings)."""

    max_steps: int = 50
    max_upscale_side: int = 2048
    max_queued_per_user: int = 5
    max_queue: int = 200
    daily_quota: int = 50
    global_daily_quota: int = 200  # 0: off
    max_blocked_words: int = 500
    owner_ids: frozenset[int] = frozenset()  # OWNER_IDS: never banned, never counted
    # MEDIA_HOSTS: the only hosts --sref/--oref links are fetched from.
    media_hosts: frozenset[str] = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
    video_cost: int = 8  # VIDEO_COST: jobs a clip counts as against the daily quotas
    fast_minutes_daily: float = 30.0  # FAST_MINUTES_DAILY: fast GPU-minutes a member a day
    global_fast_minutes_daily: float = 120.0  # ... across all servers (0: off)
    relax: bool = True  # RELAX: relax mode offered
    max_relax_per_user: int = 2  # MAX_RELAX_PER_USER: relax jobs queued or running at once
    keep_images_days: int = 0  # KEEP_IMAGES_DAYS: a job's images kept this long (0: forever)

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """The limits of a ``bot.settings.Settings``."""
        return cls(
            max_steps=settings.max_steps,
            max_upscale_side=settings.max_upscale_side,
            max_queued_per_user=settings.max_queued_per_user,
            max_queue=settings.max_queue,
            daily_quota=settings.daily_quota,
            global_daily_quota=settings.global_daily_quota,
            max_blocked_words=settings.max_blocked_words,
            owner_ids=settings.owner_id_set,
            media_hosts=settings.media_host_set,
            video_cost=settings.video_cost,
            fast_minutes_daily=settings.fast_minutes_daily,
            global_fast_minutes_daily=settings.global_fast_minutes_daily,
            relax=settings.relax == "on",
            max_relax_per_user=settings.max_relax_per_user,
            keep_images_days=settings.keep_images_days,
        )

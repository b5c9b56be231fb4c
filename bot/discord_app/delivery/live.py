"""Each job's state on the Discord side, shared by the waiting message and the delivery."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_app.delivery.budget import Pace
from bot.discord_app.sending import OneAtATime
from core.model import Job
from engine import Progress

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

logger = logging.getLogger(__name__)

FINISHED_KEPT = 1000
REFRESH_SECONDS = 2.0  # the fastest a waiting message is edited
DELIVERY_GRACE_SECONDS = 15.0  # at shutdown, for results already on their way


@dataclass
class Live:
    job: Job
    interaction: discord.Interaction | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    final: bool = False
    progress: Progress | None = None
    shown: tuple | None = None  # (position, percent, preview) last shown
    last_edit: float = 0.0
    # The waiting message, for the channel route once the token cannot edit it (expired,
    # or no interaction: a message posted in the channel).
    channel_id: int | None = None
    message_id: int | None = None
    token_dead: bool = False  # Discord refused the interaction's token

    def __post_init__(self) -> None:
        if self.channel_id is None:
            self.channel_id = self.job.channel_id


class MessagesBase:
    """What the waiting messages and the deliveries share: the live jobs, the tasks."""

    def __init__(self, bot: ImagineBot, *, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.bot = bot
        self.refresh_seconds = refresh_seconds
        self._live: dict[int, Live] = {}
        self._refresher: asyncio.Task | None = None
        self._edits: set[asyncio.Task] = set()
        self._deliveries: set[asyncio.Task] = set()
        self._finished: set[int] = set()  # recently finished jobs (ids grow)
        self._delivered: set[int] = set()  # of those, the ones Discord has the result of
        # Results on their way, by channel: position edits there give way to them.
        self._results_pending: Counter[int] = Counter()
        self._busy_channels: set[int] = set()  # a position edit through the channel route
        self._pace = Pace.new()
        self._posts = OneAtATime()  # a channel's posts (results, waiting messages)

    async def close(self, *, grace: float = DELIVERY_GRACE_SECONDS) -> None:
        """Stop the refresher and progress edits; give results on their way time to land.

        A result still not posted after ``grace`` is posted at the next start: the job
        row is only marked delivered once Discord has it.
        """
        tasks = [t for t in (self._refresher, *self._edits) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._refresher = None
        if self._deliveries:
            logger.info(
                "stopping: up to %g s for %d result(s) on their way to Discord",
                grace,
                len(self._deliveries),
            )
            await asyncio.wait(list(self._deliveries), timeout=grace)

    async def _channel(self, channel_id: int) -> Any:
        """The channel from the cache, else from Discord (raises what sending raises)."""
        return self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)

"""Showing jobs in Discord: the waiting message, then the grid or image with its buttons.

A job started by an interaction is shown by editing that interaction's response while
its token lives (15 minutes); otherwise (a job resumed after a restart, an expired token,
a failed edit) the result is posted in the job's channel, mentioning its owner.
"""

from __future__ import annotations

from bot.discord_app.delivery.results import Deliveries
from bot.discord_app.delivery.waiting import WaitingMessages
from bot.discord_app.sending import SEND_ERRORS
from core.model import EventKind, JobEvent

__all__ = ["SEND_ERRORS", "JobMessages"]


class JobMessages(WaitingMessages, Deliveries):
    """Keeps each job's Discord message in step with the job.

    While a job waits or runs, a refresher edits its message with the queue position, or
    the percent done and a preview, at most once every ``refresh_seconds`` per message
    (Discord rate-limits edits); the final result is always posted.
    """

    async def on_event(self, event: JobEvent) -> None:
        """Runner listener: keep the latest progress; post the result when a job ends."""
        if event.kind == EventKind.FINISHED:
            await self.deliver(event.job)
        else:
            self.keep_progress(event)

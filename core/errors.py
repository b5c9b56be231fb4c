"""Domain errors: each becomes an ephemeral reply in the Discord layer's one error handler."""

from __future__ import annotations

from datetime import datetime


class UserError(Exception):
    """Something the user can fix; ``message`` is shown to them as it is."""

    # Of a request's several jobs, how many would have fitted (set by what refused it).
    fitted: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadParameter(UserError):
    """A prompt parameter or setting is unknown, malformed or out of range."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class Banned(UserError):
    """The user may not start jobs or press buttons here."""


class FastTimeUsedUp(UserError):
    """The member's fast time is used up and relax mode is off: when it renews travels
    with it (the bot shows it in the reader's time zone)."""

    def __init__(
        self, message: str, *, minutes: float, used: float, renews_at: datetime, everywhere: bool
    ) -> None:
        super().__init__(message)
        self.minutes = minutes  # the limit, GPU-minutes a day
        self.used = used  # GPU-minutes used today, this job's estimate not included
        self.renews_at = renews_at
        self.everywhere = everywhere  # the limit across every server


class QuotaExceeded(UserError):
    """The user's daily quota is used up; when it resets travels with it."""

    def __init__(
        self,
        message: str,
        *,
        limit: int,
        used: int,
        resets_at: datetime,
        everywhere: bool = False,
        cost: int = 1,
    ) -> None:
        super().__init__(message)
        self.everywhere = everywhere  # the quota across every server (GLOBAL_DAILY_QUOTA)
        self.limit = limit
        self.used = used
        self.resets_at = resets_at
        self.cost = cost  # what the refused job counts as (a clip: VIDEO_COST)


class BlockedPrompt(UserError):
    """The prompt contains a word this server blocks."""


class QueueFull(UserError):
    """Too many jobs are waiting, in all or for this user."""


class UnknownJob(UserError):
    """No job with that id, or not one this action applies to."""


class NotAllowed(UserError):
    """The caller may not do this (for example cancel someone else's job)."""


class GroupRefused(UserError):
    """Several jobs of one request (``--repeat``, ``{}``) do not all fit; none started."""


class BadImage(UserError):
    """An image prompt that is too big, not an image, or not one of the formats taken."""

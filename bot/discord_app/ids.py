"""Ids that come back from Discord as text (custom ids, forms, typed options), bounded
before any use: a job id past SQLite's integer range answers like an unknown job, a user
id past a snowflake's range like an expired button, never with an exception (SQLite
cannot even be asked about such a number)."""

from __future__ import annotations

from core.errors import UnknownJob, UserError

MAX_ID = 2**63 - 1  # SQLite's largest integer; Discord's snowflakes stay below it too
# The digits a custom id's template takes: any number a forged or stale client can send
# (a custom id has at most 100 characters), so that it is answered, then bounded here.
ID = r"[0-9]+"
EXPIRED = "This has expired: use the command or the button again."


def job_id(digits: str | int) -> int:
    """The job id in ``digits``; ``UnknownJob`` ("There is no job N.") outside 1..MAX_ID."""
    number = int(digits)
    if not 0 < number <= MAX_ID:
        raise UnknownJob(f"There is no job {number}.")
    return number


def user_id(digits: str | int, expired: str = EXPIRED) -> int:
    """The user id in ``digits``; ``UserError(expired)`` outside a snowflake's range."""
    number = int(digits)
    if not 0 < number <= MAX_ID:
        raise UserError(expired)
    return number

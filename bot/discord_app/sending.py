"""Sending to Discord: what it can raise, retries, and how long a token lives (the one
place for them: answering an interaction and delivering a job's messages alike)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import aiohttp
import discord

logger = logging.getLogger(__name__)

# Interaction tokens live 15 minutes; leave a margin for the upload itself.
TOKEN_LIFETIME = timedelta(minutes=14)
DEFAULT_FILE_LIMIT = 10 * 1024 * 1024
RETRY_DELAYS = (1.0, 2.0, 4.0)
UNKNOWN_WEBHOOK, INVALID_WEBHOOK_TOKEN = 10015, 50027  # Discord's codes for a dead token
# What sending to Discord can raise; RuntimeError is a session closed by a shutdown.
SEND_ERRORS = (discord.HTTPException, aiohttp.ClientError, TimeoutError, RuntimeError)

T = TypeVar("T")


def token_alive(interaction: discord.Interaction) -> bool:
    """Whether the interaction's token can still edit its response."""
    return datetime.now(UTC) - interaction.created_at < TOKEN_LIFETIME


def token_refused(error: BaseException) -> bool:
    """Whether Discord refused an interaction's token (expired or unknown): its message
    can then only be edited through its channel."""
    return isinstance(error, discord.HTTPException) and (
        error.status == 401 or error.code in (UNKNOWN_WEBHOOK, INVALID_WEBHOOK_TOKEN)
    )


async def with_retries(
    call: Callable[[], Awaitable[T]], what: str, *, statuses: frozenset[int] = frozenset()
) -> T:
    """Retry with backoff what discord.py does not retry itself: timeouts, dropped
    connections, and the server error ``statuses`` given (its webhook calls retry every
    5xx, its other calls 500, 502, 504 and 524). Client errors are final."""
    for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
        try:
            return await call()
        except discord.HTTPException as exc:
            if exc.status not in statuses or delay is None:
                raise
            logger.warning("%s: Discord answered %s (try %d); retrying", what, exc.status, attempt)
        except (aiohttp.ClientError, TimeoutError) as exc:
            if delay is None:
                raise
            logger.warning("%s: %r (try %d); retrying", what, exc, attempt)
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")


class OneAtATime:
    """Posts in a channel one at a time (``async with posts.turn(channel_id):``).

    discord.py counts the requests of a bucket still under way against it: with several
    posts in flight in one channel it takes the bucket (Discord's 5 posts per 5 s) for
    spent before it is, and holds the answer of one of them until the bucket resets, so
    that post is marked delivered 5 s late. One at a time keeps its count exact; a
    channel's lock lives only while a post waits for it or is under way."""

    def __init__(self) -> None:
        self._turns: dict[int, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, channel_id: int) -> AsyncIterator[None]:
        lock, waiting = self._turns.get(channel_id, (None, 0))
        lock = lock or asyncio.Lock()
        self._turns[channel_id] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiting = self._turns[channel_id]
            if waiting == 1:
                del self._turns[channel_id]
            else:
                self._turns[channel_id] = (lock, waiting - 1)

    def __len__(self) -> int:
        return len(self._turns)

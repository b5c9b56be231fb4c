"""Sending to Discord: what is retried (timeouts, dropped connections, the server errors
named), what is final (client errors, other statuses), how long a token lives, and a
channel's posts one at a time."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from types import SimpleNamespace

import aiohttp
import discord
import pytest

from bot.discord_app.sending import SEND_ERRORS, OneAtATime, token_alive, with_retries
from tests.bot.discord_app.offline import http_error


class Calls:
    """A send that raises ``failures`` in turn, then answers ``"sent"``."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.count = 0

    async def __call__(self) -> str:
        self.count += 1
        if self.failures:
            raise self.failures.pop(0)
        return "sent"


def test_a_token_lives_14_minutes_of_discords_15() -> None:
    now = discord.utils.utcnow()
    assert token_alive(SimpleNamespace(created_at=now - timedelta(minutes=13, seconds=59)))
    assert not token_alive(SimpleNamespace(created_at=now - timedelta(minutes=14, seconds=1)))


async def test_an_answer_is_returned_at_once() -> None:
    send = Calls()
    assert await with_retries(send, "job 1") == "sent"
    assert send.count == 1


@pytest.mark.parametrize(
    ("error", "statuses"),
    [
        (http_error(403, "Missing Access"), frozenset({503})),  # a client error
        (http_error(404, "Unknown Message"), frozenset({503})),
        (http_error(503), frozenset()),  # a server error not named: discord.py retried it
        (http_error(500), frozenset({503})),
    ],
    ids=["403", "404", "503-not-named", "500-not-named"],
)
async def test_client_errors_and_statuses_not_named_are_final(error, statuses) -> None:
    send = Calls(error)
    with pytest.raises(discord.HTTPException) as raised:
        await with_retries(send, "job 1", statuses=statuses)
    assert raised.value is error and send.count == 1


async def test_a_server_error_named_is_retried(caplog) -> None:
    # One retry: the backoff (RETRY_DELAYS, 1 s first) is real, with no seam to shorten it.
    send = Calls(http_error(503))
    with caplog.at_level(logging.WARNING, logger="bot.discord_app.sending"):
        assert await with_retries(send, "job 9 result", statuses=frozenset({503})) == "sent"
    assert send.count == 2
    assert "job 9 result: Discord answered 503 (try 1); retrying" in caplog.text


def test_everything_sending_raises_is_one_tuple() -> None:
    # What callers catch: HTTP answers, dropped connections, timeouts, a closed session.
    for error in (
        http_error(403),
        aiohttp.ServerDisconnectedError(),
        TimeoutError(),
        RuntimeError("Session is closed"),
    ):
        assert isinstance(error, SEND_ERRORS)
    assert not isinstance(ValueError(), SEND_ERRORS)


async def test_a_channels_posts_go_one_at_a_time_and_other_channels_do_not_wait() -> None:
    posts = OneAtATime()
    under_way: dict[int, int] = {1: 0, 2: 0}
    most: dict[int, int] = {1: 0, 2: 0}
    gate = asyncio.Event()

    async def post(channel: int) -> None:
        async with posts.turn(channel):
            under_way[channel] += 1
            most[channel] = max(most[channel], under_way[channel])
            await gate.wait()
            under_way[channel] -= 1

    tasks = [asyncio.create_task(post(channel)) for channel in (1, 1, 1, 2)]
    await asyncio.sleep(0)
    assert under_way == {1: 1, 2: 1}, "one post per channel; channel 2 is not held by 1"
    assert len(posts) == 2
    tasks[1].cancel()  # a post given up while it waits for its turn
    gate.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert most == {1: 1, 2: 1} and under_way == {1: 0, 2: 0}
    assert tasks[1].cancelled() and tasks[2].done() and not tasks[2].cancelled()
    assert len(posts) == 0, "no lock is kept for a channel with nothing to post"

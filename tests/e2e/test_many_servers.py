"""A bot in 1,000 servers on 4 shards: the fake Discord serves them all at start (READY
lists each shard's servers as unavailable, one GUILD_CREATE each follows); the bot
identifies every shard, receives every server, and answers a first /imagine in a server
far from the first, on the last shard, with a grid. A bot in the usual 2 servers (on 4
shards too) started just before gives the baseline for the memory per server.

Measured, not asserted (run with ``-s`` to see them; the README quotes them): the time
from the bot process's start (its fork from the zygote, after the imports) to its ready
and to the first answer; its resident memory (``VmRSS``) at ready with 1,000 and with 2
servers; and what the bot's client keeps of a server, by ``tracemalloc`` (RSS cannot see
a few MB: the process has that much free heap after loading its model). Asserted: ready
with every server available, the grid, memory per server under ``MAX_KB_PER_SERVER``."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import discord
import pytest

from tests.bot.discord_app.offline import make_bot
from tests.e2e.bot_process import BotProcess
from tests.e2e.expect import assert_grid, job_id, wait_result
from tests.e2e.fake_discord import FakeDiscord

SERVERS = 1000
SHARDS = 4
READY_TIMEOUT = 120.0
# What the bot keeps of a server (discord.py's Guild with its roles, channels and the
# bot's own member; no member lists) is a few kilobytes. The bound is generous so that
# the noise of two processes' RSS (a few MB, spread over 998 servers) never trips it,
# while a per-server cost that would hurt at scale (a buffer, a connection, a task or a
# member list per server: 200 MB and more for 1,000) does.
MAX_KB_PER_SERVER = 200
_READY = re.compile(r"connected as .* to (\d+) servers \((\d+) unavailable\)")


@pytest.fixture
def fakes() -> Iterator[dict[int, FakeDiscord]]:
    """Two fakes of this test's own, recommending 4 shards: the usual 2 servers, and
    1,000 (998 added)."""
    made = {
        2: FakeDiscord(shards=SHARDS).start(),
        SERVERS: FakeDiscord(shards=SHARDS).add_servers(SERVERS - 2).start(),
    }
    yield made
    problems = [line for fake in made.values() for line in fake.problems()]
    for fake in made.values():
        fake.stop()
    if problems:
        pytest.fail("the fake Discord recorded problems:\n- " + "\n- ".join(problems))


def _rss_kb(pid: int) -> int:
    """The process's resident memory in kB (``VmRSS`` of ``/proc/<pid>/status``)."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert match, status
    return int(match.group(1))


def _age_s(pid: int) -> float:
    """Seconds since the process started (its fork: ``starttime`` in ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of the line
    return float(Path("/proc/uptime").read_text().split()[0]) - started


def _start(bot_factory: Callable[..., BotProcess], fake: FakeDiscord) -> tuple[BotProcess, float]:
    """A bot against ``fake``, once discord.py said ready (every server received: none
    unavailable, every shard identified); the seconds that took from its start."""
    bot = bot_factory(fake=fake)
    deadline = time.monotonic() + READY_TIMEOUT
    while (match := _READY.search(bot.log_since(0))) is None:
        assert bot.running, f"the bot exited:\n{bot.log_since(0)[-5000:]}"
        assert time.monotonic() < deadline, f"not ready within {READY_TIMEOUT:g} s"
        time.sleep(0.05)
    ready = _age_s(bot.process.pid)  # type: ignore[union-attr]
    assert (int(match.group(1)), int(match.group(2))) == (len(fake.guild_ids), 0)
    shards = sorted(payload["shard"] for payload in fake.identify_payloads)
    assert shards == [[shard, SHARDS] for shard in range(SHARDS)]
    assert fake.connected
    return bot, ready


def _far_server(fake: FakeDiscord) -> str:
    """The last added server that Discord routes to the last shard."""
    for number in range(SERVERS - 2, 0, -1):
        key = f"s{number}"
        if fake.shard_of(fake.member("member", key).guild_id) == SHARDS - 1:
            return key
    raise AssertionError("no server on the last shard")


def _client_kb_per_server(fake: FakeDiscord, count: int = 250) -> float:
    """What the bot's client (``ImagineBot``, never connected) keeps of each of ``count``
    of the fake's servers once their GUILD_CREATE is parsed, by ``tracemalloc`` (a
    shard's worth: tracemalloc makes the parsing slow)."""

    async def measure() -> float:
        state = make_bot()._connection
        user = fake.bot_member.user_json()
        state.user = discord.ClientUser(state=state, data=user)  # type: ignore[arg-type]
        payloads = [fake.guild_payload(guild) for guild in fake.guild_ids[-count:]]
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for payload in payloads:
                state.parse_guild_create(payload)  # type: ignore[arg-type]
            payloads.clear()
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert len(state.guilds) == count
        return kept / 1024 / count

    return asyncio.run(measure())


def test_a_thousand_servers_on_four_shards(
    fakes: dict[int, FakeDiscord], bot_factory: Callable[..., BotProcess]
) -> None:
    many = fakes[SERVERS]
    assert len(many.guild_ids) == SERVERS
    per_shard = [sum(many.shard_of(g) == s for g in many.guild_ids) for s in range(SHARDS)]
    assert min(per_shard) >= SERVERS // SHARDS - 1, per_shard  # spread as Discord does
    far = _far_server(many)
    member = many.member("member", far)

    base, base_ready = _start(bot_factory, fakes[2])
    base_rss = _rss_kb(base.process.pid)  # type: ignore[union-attr]
    bot, ready = _start(bot_factory, many)  # (stops the first)
    pid = bot.process.pid  # type: ignore[union-attr]
    rss = _rss_kb(pid)

    asked = _age_s(pid)
    grid = wait_result(many.invoke("imagine", member, prompt="a lighthouse --steps 2"))
    answered = _age_s(pid)
    assert_grid(grid)
    assert grid.guild_id == member.guild_id
    assert bot.query("SELECT guild_id FROM jobs WHERE id = ?", job_id(grid)) == [(member.guild_id,)]

    per_server = (rss - base_rss) / (SERVERS - 2)
    client_per_server = _client_kb_per_server(many)
    print(
        f"\n{SERVERS} servers on {SHARDS} shards {per_shard}, /imagine in {far} "
        f"(shard {many.shard_of(member.guild_id)}):\n"
        f"  ready {ready:.2f} s after the bot's start (2 servers: {base_ready:.2f} s)\n"
        f"  first /imagine answered {answered:.2f} s after the start "
        f"(asked at {asked:.2f} s)\n"
        f"  RSS at ready {rss / 1024:.1f} MB (2 servers: {base_rss / 1024:.1f} MB): "
        f"{per_server:+.1f} KB per server; RSS after the answer "
        f"{_rss_kb(pid) / 1024:.1f} MB\n"
        f"  the client keeps {client_per_server:.1f} KB per server (tracemalloc)"
    )
    assert per_server < MAX_KB_PER_SERVER
    assert client_per_server < MAX_KB_PER_SERVER

"""A thousand jobs waiting in one channel, under Discord's rate limits (issue 29).

The fake enforces Discord's limits (its defaults): per-route buckets, the global 50
requests a second, 5 edits per 5 s per channel through the channel route. The oldest
jobs' tokens expire (as after 15 minutes): their messages can only be edited through the
channel, and their results are posted there. The worker is held by a gate while the jobs
queue; a few run (the tiny model, one step), then the gate closes again: the point is the
requests, not the GPU.

What must hold: every result reaches the channel, no request is retried in a loop, the
grids do not wait behind position edits, and the places are kept up to date within a
budget. The requests sent and the delay from a job's end to its grid are reported (run
with ``-s`` to see them), never asserted.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime

from bot.discord_app.delivery.budget import EDITS_PER_REFRESH
from tests.e2e.expect import job_id
from tests.e2e.fake_discord import Call, FakeDiscord, Interaction, StoredMessage

JOBS = 1000
TO_RUN = 2  # jobs let through the gate (one batch; the next may slip through too)
EXPIRED = 40  # the oldest jobs, whose tokens Discord refuses from now on
CHUNK = 50  # interactions sent before waiting for their answers (Discord's 3 s)
INVALID_WEBHOOK_TOKEN = 50027
WAITING = re.compile(r"· (queued: |running)")


def _queue(fake: FakeDiscord) -> list[Interaction]:
    alice = fake.member("alice")
    handles: list[Interaction] = []
    for first in range(0, JOBS, CHUNK):
        chunk = [
            fake.invoke("imagine", alice, prompt=f"waiting {n} --steps 1 --seed {n}")
            for n in range(first, first + CHUNK)
        ]
        for handle in chunk:
            ack = handle.wait_ack(10)
            assert ack.type == 4 and not ack.ephemeral, "every job admitted"
        handles += chunk
    return handles


def _grid_at(message: StoredMessage, number: int) -> float:
    """When the job's grid appeared on Discord."""
    tag = f"job {number} · seed"
    if message.kind == "channel":
        return message.edits[0].at
    return next(e.at for e in message.edits if tag in e.content and e.attachment_ids)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _position_edit(call: Call) -> bool:
    content = (call.payload or {}).get("content", "") if isinstance(call.payload, dict) else ""
    return call.method == "PATCH" and call.status == 200 and bool(WAITING.search(content))


def _longest_429_streaks(calls: list[Call]) -> list[tuple[int, str]]:
    """The most 429s one request (method and path) got in a row among ``calls``, the
    longest first: this test's own, not the session's (earlier tests share the fake)."""
    streaks: dict[str, int] = {}
    longest: dict[str, int] = {}
    for call in calls:
        key = f"{call.method} {call.path}"
        streaks[key] = streaks.get(key, 0) + 1 if call.status == 429 else 0
        longest[key] = max(longest.get(key, 0), streaks[key])
    return sorted(((n, key) for key, n in longest.items() if n), reverse=True)


def _requests_by_second(calls: list[Call]) -> str:
    """What Discord saw, second by second (for a failure's message)."""
    if not calls:
        return "the waiting messages were not updated: no request at all"
    first = calls[0].at
    seconds = Counter(
        (int(c.at - first), c.method, "channel" if "/channels/" in c.path else "token", c.status)
        for c in calls
    )
    lines = [
        f"{t:3d} s {m} {route} {status}: {n}"
        for (t, m, route, status), n in sorted(seconds.items())
    ]
    return "the waiting messages were not updated; requests:\n" + "\n".join(lines)


def test_a_thousand_waiting_jobs_spend_the_rate_limits_on_results(
    fake_discord: FakeDiscord, bot_factory, gate
) -> None:
    gate.touch()
    begun = time.monotonic()
    bot = bot_factory(
        E2E_WORKER_GATE=gate,
        MAX_QUEUE=JOBS + 10,
        MAX_QUEUED_PER_USER=JOBS + 10,
        DAILY_QUOTA=JOBS + 10,
        GLOBAL_DAILY_QUOTA=0,
        FAST_MINUTES_DAILY=100000,
        GLOBAL_FAST_MINUTES_DAILY=0,
    )
    general = fake_discord.channel("general")
    # The session's fake keeps earlier tests' messages (their bots numbered jobs from 1
    # too): only this bot's count.
    earlier = {m.id for m in fake_discord.messages(general.id)}
    started = time.monotonic()
    start_s = started - begun
    first_call = len(fake_discord.calls)
    handles = _queue(fake_discord)
    queued_s = time.monotonic() - started
    by_job = {job_id(h.original()): h for h in handles}  # type: ignore[arg-type]
    assert len(by_job) == JOBS

    # 15 minutes later, as far as Discord knows, for the oldest. The bot's own clock says
    # their tokens live, so each is refused once (401) before the channel route.
    fake_discord.allow_rejections(INVALID_WEBHOOK_TOKEN)
    for number in sorted(by_job)[:EXPIRED]:  # the first in the queue, whose results come
        fake_discord.expire(by_job[number])
    mark, hits = len(fake_discord.calls), len(fake_discord.rate_limited)

    gate.unlink()
    deadline = time.monotonic() + 120
    while bot.query("SELECT COUNT(*) FROM jobs WHERE status = 'done'")[0][0] < TO_RUN:
        assert time.monotonic() < deadline, "the jobs let through did not finish"
        time.sleep(0.02)
    gate.touch()
    ran_s = time.monotonic() - started - queued_s

    # The places move on, through the tokens that live and through the channel.
    def places_moved() -> bool:
        edits = [c for c in fake_discord.calls[mark:] if _position_edit(c)]
        through_channel = sum("/channels/" in c.path for c in edits)
        return through_channel >= 3 and len(edits) - through_channel >= EDITS_PER_REFRESH

    deadline = time.monotonic() + 30
    while not places_moved():
        assert time.monotonic() < deadline, _requests_by_second(fake_discord.calls[mark:])
        time.sleep(0.1)
    watched_s = time.monotonic() - started - queued_s - ran_s
    # The bot edits a few places every second for as long as jobs wait: never quiet. A
    # stop lets the results on their way land first.
    bot.stop(quiet=False)

    # Every result reached the channel: each job that ran, delivered once, with its grid.
    done = bot.query("SELECT id, finished_at, delivered_at FROM jobs WHERE status = 'done'")
    assert len(done) >= TO_RUN and all(delivered for _, _, delivered in done), done
    delays = {}
    for number, finished_at, _ in done:
        tag = f"job {number} · seed"
        [grid] = [
            m for m in fake_discord.messages(general.id) if tag in m.content and m.id not in earlier
        ]
        assert grid.attachments and grid.rows[0][0] == "U1", "the grid with its buttons"
        delays[number] = _grid_at(grid, number) - _epoch(finished_at)

    calls = fake_discord.calls[mark:]
    limited = fake_discord.rate_limited[hits:]
    # No 429 loop: discord.py waits as the headers say, and nothing of ours retries one.
    streaks = _longest_429_streaks(fake_discord.calls[first_call:])
    assert not streaks or streaks[0][0] <= 2, streaks[:5]
    assert len(limited) <= 10, [f"{h.method} {h.path} {h.bucket}" for h in limited]
    # The grids did not wait behind position edits: between a job's end and its grid,
    # Discord saw no more position edits than one refresh may have under way.
    edits = [c for c in calls if _position_edit(c)]
    for number, finished_at, _ in done:
        end = _epoch(finished_at)
        between = [c for c in edits if end < c.at < end + delays[number]]
        assert len(between) <= EDITS_PER_REFRESH, (number, len(between))

    kinds = Counter(
        f"{c.method} {'channel' if '/channels/' in c.path else 'token'} {c.status}"
        for c in calls
        if c.path.startswith(("/api/v10/channels/", "/api/v10/webhooks/"))
    )
    print(
        f"\nbot started in {start_s:.1f} s; {JOBS} jobs queued in {queued_s:.1f} s "
        f"({mark - first_call} requests); {len(done)} ran in {ran_s:.1f} s; "
        f"watched {watched_s:.1f} s more\n"
        f"requests since the jobs queued: {len(calls)} {dict(sorted(kinds.items()))}; "
        f"429s: {len(limited)}, longest 429 streaks: {streaks[:3]}\n"
        "job end -> grid on Discord: "
        + ", ".join(f"job {n}: {d:.2f} s" for n, d in sorted(delays.items()))
    )

"""The first reply is a promise: admitted before answered, refusals private, nothing lost.

The worker is held by a gate the test controls (a file the engine's hooks watch, see
``tests/e2e/engine_options.py``), never by long jobs or sleeps.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from tests.e2e.expect import GRID_ROWS, eventually, job_id, refused_privately, wait_result
from tests.e2e.fake_discord import FakeDiscord, FakeMember, Interaction, StoredMessage

SHORT = "--steps 2"


def _results(fake: FakeDiscord, number: int, since: int) -> list[StoredMessage]:
    """Public messages created after the mark ``since`` that carry job ``number``'s images
    (the fake is shared: an earlier test's bot had a job ``number`` too)."""
    pattern = re.compile(rf"\bjob {number}\b")
    return [
        m
        for m in fake.public_messages_since(since)
        if not m.deleted
        if not m.ephemeral
        and m.attachments
        and pattern.search(m.content)
        and "Cancel" not in str(m.rows)
    ]


def test_refusals_from_commands_and_buttons_leave_no_public_trace(
    fake_discord: FakeDiscord, bot_factory, gate: Path
) -> None:
    fake = fake_discord
    bot = bot_factory(GLOBAL_DAILY_QUOTA=2, MAX_QUEUED_PER_USER=1, E2E_WORKER_GATE=gate)
    alice, bob, mod, curator = (fake.member(n, "a") for n in ("alice", "bob", "mod", "curator"))
    alice_b, carol = fake.member("alice", "b"), fake.member("carol", "b")
    grid = wait_result(fake.invoke("imagine", alice, prompt=f"a fox and an aardvark {SHORT}"))
    b_grid = wait_result(fake.invoke("imagine", alice_b, prompt=f"an owl {SHORT}"))
    fake.invoke("admin banword", mod, action="add", word="aardvark").wait_reply(timeout=10)
    fake.invoke("admin quota", mod, daily=0, user=curator).wait_reply(timeout=10)
    fake.invoke("admin ban", mod, user=bob, reason="spam").wait_reply(timeout=10)
    gate.touch()
    held = fake.invoke("imagine", carol, prompt=f"held by the gate {SHORT}")
    assert held.wait_ack().type == 4

    cases: list[tuple[str, FakeMember, str, object]] = [
        ("bad parameter", alice, "--ar", ("imagine", {"prompt": "a fox --ar 0:1"})),
        ("blocked word", mod, "prompt contains", ("imagine", {"prompt": "an aardvark"})),
        ("blocked word", mod, "The prompt of job", ("press", grid, "V1")),
        ("global quota", alice, "across all servers", ("imagine", {"prompt": "a third"})),
        ("global quota", alice, "across all servers", ("press", grid, "U1")),
        ("quota", curator, "daily limit is 0", ("imagine", {"prompt": "a calm lake"})),
        ("quota", curator, "daily limit is 0", ("press", grid, "U2")),
        ("quota, two jobs", curator, "(none would)", ("imagine", {"prompt": "a {calm, wild} sea"})),
        ("global quota, repeat", alice, "makes 2 jobs", ("imagine", {"prompt": "x --repeat 2"})),
        ("too many jobs", alice, "makes 5 prompts", ("imagine", {"prompt": "{a,b,c,d,e}"})),
        ("unbalanced braces", alice, "never closed", ("imagine", {"prompt": "a {b, c"})),
        ("ban", bob, "Reason: spam", ("imagine", {"prompt": "a calm lake"})),
        ("ban", bob, "Reason: spam", ("press", grid, "🔄")),
        ("queue full", carol, "the most is 1", ("imagine", {"prompt": "one more"})),
        ("queue full", carol, "the most is 1", ("press", b_grid, "V2")),
        ("unknown job", carol, "There is no job", ("custom", "u:999999:1", b_grid)),
    ]
    for name, member, expected, action in cases:
        jobs = bot.count_jobs()
        mark = fake.message_mark()
        kind, *args = action  # type: ignore[misc]
        if kind == "imagine":
            handle = fake.invoke("imagine", member, **args[0])
        elif kind == "press":
            handle = fake.press(args[0], args[1], member)
        else:
            handle = fake.press_custom_id(args[0], member, message=args[1])
        reply = refused_privately(handle, member)
        assert expected in reply.content, (name, kind, reply.content)
        assert fake.public_messages_since(mark) == [], f"{name} ({kind}) left a public trace"
        assert bot.count_jobs() == jobs, f"{name} ({kind}) created a job row"
    gate.unlink()
    assert wait_result(held).rows == GRID_ROWS


PROMISES = 12  # jobs acknowledged before the SIGKILL, each time


def _kill_after_acks(bot, handles: list[Interaction]) -> list[int]:
    """Wait for every acknowledgement, SIGKILL the bot at once; the jobs they promised."""
    for handle in handles:
        ack = handle.wait_ack()
        assert ack.type == 4 and not ack.ephemeral and ack.latency < 3.0
    bot.kill()
    numbers = []
    for handle in handles:
        original = handle.original()
        assert original is not None and "Cancel" in str(original.rows)
        numbers.append(job_id(original))
    return numbers


def test_every_acknowledged_job_survives_a_sigkill(
    fake_discord: FakeDiscord, bot_factory, gate: Path
) -> None:
    fake = fake_discord
    since = fake.message_mark()
    members = [fake.member(n, "a") for n in ("alice", "bob", "mod", "curator", "owner")]
    gate.touch()
    bot = bot_factory(E2E_WORKER_GATE=gate)

    # 12 commands at once, killed right after the last acknowledgement. In three channels,
    # 4 each: the results of resumed jobs are posted there, and Discord allows 5 posts per
    # channel in 5 s (discord.py holds the post that spends a bucket's last one until then).
    channels = [fake.channel(name, "a") for name in ("general", "art", "nsfw")]
    handles = [
        fake.invoke(
            "imagine",
            members[i % 5],
            channel=channels[i % 3],
            prompt=f"promise {i} {SHORT} --seed {i}",
        )
        for i in range(PROMISES)
    ]
    numbers = _kill_after_acks(bot, handles)
    assert len(set(numbers)) == PROMISES
    assert bot.query("SELECT COUNT(*) FROM jobs") == [(PROMISES,)], (
        "each row committed before the answer"
    )
    gate.unlink()
    bot.start()
    grids = {}
    deadline = time.monotonic() + 180
    while len(grids) < PROMISES:
        assert time.monotonic() < deadline, f"results of {sorted(set(numbers) - set(grids))}"
        for number in numbers:
            found = _results(fake, number, since)
            if found:
                grids[number] = found
        time.sleep(0.2)
    _all_delivered(fake, bot)
    for number in numbers:
        results = _results(fake, number, since)
        assert len(results) == 1, f"job {number}: {len(results)} results"
        assert results[0].rows == GRID_ROWS
    assert bot.query("SELECT COUNT(*) FROM jobs WHERE status = 'done'") == [(PROMISES,)]

    # The same with as many button presses.
    gate.touch()
    pressed = [grids[number][0] for number in numbers]
    labels = ["U1", "U2", "V1", "V2", "🔄"]
    presses = [fake.press(pressed[i], labels[i % 5], members[i % 5]) for i in range(PROMISES)]
    children = _kill_after_acks(bot, presses)
    assert len(set(children)) == PROMISES and not set(children) & set(numbers)
    assert bot.query("SELECT COUNT(*) FROM jobs") == [(2 * PROMISES,)]
    gate.unlink()
    bot.start()
    deadline = time.monotonic() + 240
    while not all(_results(fake, number, since) for number in children):
        assert time.monotonic() < deadline, "every pressed button gets its result"
        time.sleep(0.2)
    _all_delivered(fake, bot)
    for number in children:
        assert len(_results(fake, number, since)) == 1, f"job {number} was delivered twice"
    assert bot.query("SELECT COUNT(*) FROM jobs WHERE status = 'done'") == [(2 * PROMISES,)]


def test_a_stalled_database_is_answered_privately_in_time(
    fake_discord: FakeDiscord, bot_factory
) -> None:
    fake = fake_discord
    bot = bot_factory()
    alice, bob = fake.member("alice", "a"), fake.member("bob", "a")
    wait_result(fake.invoke("imagine", bob, prompt=f"warm up {SHORT}"))
    mark = since = fake.message_mark()
    # Another writer holds the database: the job's insert waits for it.
    lock = sqlite3.connect(bot.db_path, timeout=10, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        handle = fake.invoke("imagine", alice, prompt=f"a patient fox {SHORT} --seed 4")
        ack = handle.wait_ack()
        assert ack.latency < 3.0, "Discord's 3 s are met though admission is stuck"
        assert ack.type == 5 and ack.ephemeral, "held privately: a refusal would stay private"
        assert fake.public_messages_since(mark) == [], "nothing public while undecided"
    finally:
        lock.rollback()
        lock.close()
    note = handle.wait_reply(lambda m: "is queued" in m.content, 20)
    assert note.ephemeral
    number = int(re.search(r"Job (\d+) is queued", note.content).group(1))  # type: ignore[union-attr]
    waiting = [m for m in fake.public_messages_since(mark) if f"job {number}" in m.content]
    assert waiting and waiting[0].kind == "channel", "the job's message is a channel post"
    assert str(waiting[0].id) in note.content, "the private note links to it"
    deadline = time.monotonic() + 120
    while not _results(fake, number, since):
        assert time.monotonic() < deadline, "the job is delivered"
        time.sleep(0.2)
    _all_delivered(fake, bot)
    assert len(_results(fake, number, since)) == 1
    assert bot.query("SELECT status FROM jobs WHERE id = ?", number) == [("done",)]


def _all_delivered(fake: FakeDiscord, bot) -> None:
    """Until every job row is marked delivered (a result is marked once Discord has it, and
    never posted again after) and no call to the fake is in flight: then a job posted twice
    shows as two results, with no quiet second waited for."""
    eventually(lambda: bot.query("SELECT COUNT(*) FROM jobs WHERE delivered_at IS NULL"), [(0,)])
    assert fake.wait_quiet(0.0, 20), "a call to Discord still in flight"

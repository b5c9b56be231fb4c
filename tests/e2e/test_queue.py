"""The queue seen from Discord: progress with a preview, Cancel, and a crash mid-job."""

from __future__ import annotations

import itertools
import re

from tests.e2e.expect import assert_grid, eventually, job_id, posted_result
from tests.e2e.fake_discord import FakeDiscord, Interaction, StoredMessage

REFRESH_SECONDS = 2.0  # the fastest the bot may edit a waiting message
_PERCENT = re.compile(r"running: (\d+)%")


def _shown(message: StoredMessage) -> bool:
    return not message.loading and "job " in message.content


def _rows(message: StoredMessage) -> list[str]:
    return [label for row in message.rows for label in row]


def _cancel(fake: FakeDiscord, message: StoredMessage, who) -> Interaction:
    handle = fake.press(message, "Cancel", who)
    ack = handle.wait_ack()
    assert ack.type == 5 and ack.ephemeral, "Cancel answers the presser privately"
    return handle


def test_progress_shows_percent_and_a_preview_with_spaced_edits(
    fake_discord: FakeDiscord, bot_factory, step_gate
) -> None:
    step_gate.write_text("1")  # the job's pipeline call stops at the end of step 1
    bot_factory(E2E_STEP_GATE=step_gate)
    alice = fake_discord.member("alice")
    handle = fake_discord.invoke("imagine", alice, prompt="a slow lighthouse --steps 8 --seed 3")
    first = handle.wait_original(_shown, 10)
    assert "Cancel" in _rows(first), "a waiting job can be cancelled"

    def percent(message: StoredMessage) -> int:
        found = _PERCENT.search(message.content)
        return int(found.group(1)) if found else -1

    shown = handle.wait_original(lambda m: percent(m) >= 0, 30)
    assert percent(shown) == 12, "held at the end of step 1 of 8"
    assert "Cancel" in _rows(shown)
    # One step more at a time: the message follows, each time with the newest preview.
    for stop in (3, 5):
        before = percent(handle.original())
        step_gate.write_text(str(stop))
        running = handle.wait_original(lambda m, b=before: percent(m) > b and m.attachments, 30)
        assert running.attachments[0].filename == "preview.png"
        assert running.image().size[0] <= 256
        assert "Cancel" in _rows(running)
    step_gate.unlink()

    final = handle.wait_original(lambda m: "seed 3" in m.content, 60)
    assert_grid(final)
    edits = final.edits
    percents = [int(m.group(1)) for e in edits if (m := _PERCENT.search(e.content))]
    assert len(percents) >= 3 and percents == sorted(percents), percents
    # Discord rate-limits edits: every update before the result is 2 s or more apart.
    waiting = [e.at for e in edits[:-1]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(waiting)]
    assert gaps and min(gaps) >= REFRESH_SECONDS - 0.1, gaps


def test_cancel_by_the_owner_or_an_admin_only(fake_discord: FakeDiscord, bot_factory, gate) -> None:
    gate.touch()  # the worker holds the first job, running, until it is cancelled
    bot = bot_factory(E2E_WORKER_GATE=gate)
    alice, bob, mod = (fake_discord.member(n) for n in ("alice", "bob", "mod"))
    long_job = fake_discord.invoke("imagine", alice, prompt="a long road --steps 4 --seed 1")
    running = long_job.wait_original(_shown, 10)
    queued_job = fake_discord.invoke("imagine", alice, prompt="a short road --steps 4 --seed 2")
    queued = queued_job.wait_original(_shown, 10)
    running_id, queued_id = job_id(running), job_id(queued)
    eventually(
        lambda: bot.query("SELECT status FROM jobs WHERE id = ?", running_id), [("running",)]
    )

    refused = _cancel(fake_discord, queued, bob)
    reply = refused.wait_reply(lambda m: not m.loading, 10)
    assert reply.ephemeral and "Only the owner" in reply.content
    assert bot.query("SELECT status FROM jobs WHERE id = ?", queued_id) == [("queued",)]

    # The owner cancels the queued job: it leaves the queue without running.
    mine = _cancel(fake_discord, queued, alice)
    assert "cancelled" in mine.wait_reply(lambda m: not m.loading, 10).content
    gone = queued_job.wait_original(lambda m: "cancelled" in m.content, 10)
    assert "Cancel" not in _rows(gone) and not gone.attachments
    assert bot.query("SELECT status, started_at FROM jobs WHERE id = ?", queued_id) == [
        ("cancelled", None)
    ]

    # An admin (Manage Server) stops the running one (held by the gate) before it ends.
    admin = _cancel(fake_discord, running, mod)
    assert "cancelled" in admin.wait_reply(lambda m: not m.loading, 30).content
    stopped = long_job.wait_original(lambda m: "cancelled" in m.content, 30)
    assert not stopped.attachments
    [(status, started)] = bot.query("SELECT status, started_at FROM jobs WHERE id = ?", running_id)
    assert status == "cancelled" and started is not None
    assert bot.query("SELECT COUNT(*) FROM images WHERE job_id = ?", running_id) == [(0,)]

    # The GPU is free again: the next job runs.
    gate.unlink()
    after = fake_discord.invoke("imagine", bob, prompt="after the road --steps 4 --seed 5")
    assert_grid(after.wait_original(lambda m: "seed 5" in m.content, 60))


def test_a_crash_mid_job_loses_and_repeats_nothing(
    fake_discord: FakeDiscord, bot_factory, gate
) -> None:
    gate.touch()  # the worker holds the first job, "running", until the test says
    bot = bot_factory(E2E_WORKER_GATE=gate)
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")
    first = fake_discord.invoke("imagine", alice, prompt="crash one --steps 4 --seed 11")
    numbers = [job_id(first.wait_original(_shown, 10))]
    eventually(
        lambda: bot.query("SELECT status FROM jobs WHERE id = ?", numbers[0]), [("running",)]
    )
    handles = [
        fake_discord.invoke("imagine", bob, prompt="crash two --steps 4 --seed 12"),
        fake_discord.invoke("imagine", alice, prompt="crash three --steps 4 --seed 13"),
    ]
    # Admitted concurrently: their ids follow the order they were admitted in.
    numbers += [job_id(h.wait_original(_shown, 10)) for h in handles]

    bot.kill()  # SIGKILL: no clean shutdown at all
    statuses = bot.query("SELECT id, status FROM jobs ORDER BY id")
    assert statuses == sorted(
        [(numbers[0], "running"), (numbers[1], "queued"), (numbers[2], "queued")]
    )
    gate.unlink()
    bot.start()

    prompts = ("crash one", "crash two", "crash three")
    for number, member, prompt in zip(numbers, (alice, bob, alice), prompts, strict=True):
        posted = posted_result(fake_discord, number, prompt)
        assert_grid(posted)
        assert f"<@{member.id}>" in posted.content
    eventually(lambda: bot.query("SELECT COUNT(*) FROM jobs WHERE status = 'done'"), [(3,)])
    # Exactly once: one result message per job, four image rows each, and the job that
    # was running when the process died ran twice at most (the retry).
    for number in numbers:
        pattern = re.compile(rf"\bjob {number} · seed")
        results = [
            m
            for m in fake_discord.messages()
            if m.kind == "channel"
            and "crash" in m.content
            and pattern.search(m.content)
            and m.attachments
        ]
        assert len(results) == 1, [m.content for m in results]
        assert bot.query("SELECT COUNT(*) FROM images WHERE job_id = ?", number) == [(4,)]
    assert bot.query("SELECT attempts FROM jobs WHERE id = ?", numbers[0]) == [(2,)]
    assert bot.query("SELECT attempts FROM jobs WHERE id = ?", numbers[1]) == [(1,)]

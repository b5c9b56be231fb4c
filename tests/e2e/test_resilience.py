"""When things go wrong around a job: a lost response, a restart, images that are gone."""

from __future__ import annotations

import re
import threading

from tests.e2e.expect import (
    GRID_ROWS,
    assert_grid,
    eventually,
    job_id,
    posted_result,
    restart_requeued,
    wait_result,
)
from tests.e2e.fake_discord import FakeDiscord, StoredMessage

# Discord's error codes the bot meets here on purpose.
UNKNOWN_MESSAGE = 10008
INVALID_WEBHOOK_TOKEN = 50027


def _shown(message: StoredMessage) -> bool:
    return bool(re.search(r"\bjob \d+\b", message.content))


def test_result_goes_to_the_channel_when_the_response_is_gone(
    fake_discord: FakeDiscord, bot_factory, gate
) -> None:
    fake_discord.allow_rejections(UNKNOWN_MESSAGE, INVALID_WEBHOOK_TOKEN)
    gate.touch()  # the worker holds the first job until the test opens the gate
    bot_process = bot_factory(E2E_WORKER_GATE=gate)
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")
    blocker = fake_discord.invoke("imagine", bob, prompt="a slow castle --steps 4 --seed 1")
    blocker_job = job_id(blocker.wait_original(_shown, 10))
    deleted = fake_discord.invoke("imagine", alice, prompt="a deleted fox --steps 4 --seed 2")
    expired = fake_discord.invoke("imagine", alice, prompt="an expired fox --steps 4 --seed 3")
    gone = deleted.wait_original(_shown, 10)
    late = expired.wait_original(_shown, 10)
    eventually(
        lambda: bot_process.query(
            "SELECT status FROM jobs WHERE id IN (?, ?, ?) ORDER BY id",
            blocker_job,
            job_id(gone),
            job_id(late),
        ),
        [("running",), ("queued",), ("queued",)],
    )
    fake_discord.delete_message(gone)  # a moderator deletes the waiting message
    fake_discord.expire(expired)  # as if 15 minutes had passed
    gate.unlink()

    assert_grid(wait_result(blocker))
    for handle, waiting, words in (
        (deleted, gone, "a deleted fox"),
        (expired, late, "an expired fox"),
    ):
        posted = posted_result(fake_discord, job_id(waiting), words)
        assert_grid(posted)
        assert words in posted.content and f"<@{alice.id}>" in posted.content
        assert posted.channel_id == handle.channel_id and not posted.ephemeral
        number = job_id(posted)
        eventually(  # the job points at the message that shows it
            lambda n=number: bot_process.query("SELECT message_id FROM jobs WHERE id = ?", n),
            [(posted.id,)],
        )


def test_queued_jobs_finish_after_a_restart(fake_discord: FakeDiscord, bot_factory, gate) -> None:
    gate.touch()  # the worker holds the first job, running, until the test opens the gate
    bot = bot_factory(E2E_WORKER_GATE=gate)
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")
    blocker = fake_discord.invoke("imagine", bob, prompt="a slow tower --steps 4 --seed 4")
    blocker_job = job_id(blocker.wait_original(_shown, 10))
    waiting = fake_discord.invoke("imagine", alice, prompt="a patient owl --steps 4 --seed 5")
    shown = waiting.wait_original(_shown, 10)
    number = job_id(shown)
    # The row is the truth: stop once it says the long job runs, the short one behind it.
    eventually(
        lambda: bot.query("SELECT status FROM jobs WHERE id = ?", blocker_job),
        [("running",)],
        timeout=30,
    )

    # A clean stop interrupts the running job and queues it again without using its retry.
    before = len(fake_discord.calls)
    restart_requeued(bot, gate, blocker_job, number, held=True)
    # The new process keeps the old waiting message in step, through its channel (the
    # token died with the last process): it says where the job is now.
    edit = f"/api/v10/channels/{shown.channel_id}/messages/{shown.id}"

    def edited() -> bool:
        calls = fake_discord.calls[before:]
        return any(c.method == "PATCH" and c.path == edit and c.status == 200 for c in calls)

    eventually(edited, True, timeout=20)
    now = fake_discord.message(shown.id)
    assert re.search(rf"\njob {number} · (running…|queued: next up)$", now.content), now.content
    assert now.rows == [["Cancel"]]
    gate.unlink()

    posted = posted_result(fake_discord, number, "a patient owl")
    assert_grid(posted)
    assert "a patient owl" in posted.content and f"<@{alice.id}>" in posted.content
    eventually(
        lambda: bot.query("SELECT status, message_id FROM jobs WHERE id = ?", number),
        [("done", posted.id)],
    )
    # The long job ends too, posted after the restart.
    assert_grid(posted_result(fake_discord, blocker_job, "a slow tower"))


def test_a_button_whose_images_are_gone_answers_privately(
    fake_discord: FakeDiscord, bot_process
) -> None:
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")
    grid = wait_result(
        fake_discord.invoke("imagine", alice, prompt="a vanishing cat --steps 4 --seed 6")
    )
    [(index,)] = bot_process.query(
        "SELECT idx FROM images WHERE job_id = ? AND idx = 1", job_id(grid)
    )
    # Where storage/images.py keeps it: images/<job id>/<index>.png under DATA_DIR.
    (bot_process.data_dir / "images" / str(job_id(grid)) / f"{index}.png").unlink()
    jobs_before = bot_process.count_jobs()

    press = fake_discord.press(grid, "U1", bob)
    press.wait_ack()
    reply = press.wait_reply(timeout=10)
    assert reply.ephemeral and reply.visible_to == bob.id, "the refusal is for the presser only"
    assert "no longer" in reply.content, reply.content
    assert not [m for m in press.messages() if not m.ephemeral], "nothing public is left"
    assert bot_process.count_jobs() == jobs_before


def test_a_result_on_its_way_at_shutdown_still_lands(
    fake_discord: FakeDiscord, bot_process
) -> None:
    alice = fake_discord.member("alice")
    # Discord is slow to take the job's message edits: the fake holds them until the test
    # lets them through, once the bot is stopping.
    held = fake_discord.hold_next("PATCH", r"/messages/@original$", times=1000)
    handle = fake_discord.invoke("imagine", alice, prompt="a hurried hare --steps 4 --seed 8")
    number = job_id(handle.wait_original(_shown, 10))
    eventually(
        lambda: bot_process.query("SELECT status FROM jobs WHERE id = ?", number),
        [("done",)],
        timeout=60,
    )
    held.wait_reached()
    assert bot_process.query("SELECT delivered_at IS NULL FROM jobs WHERE id = ?", number) == [(1,)]
    offset = bot_process.log_size()

    def open_once_stopping() -> None:
        eventually(lambda: "on their way to Discord" in bot_process.log_since(offset), True)
        held.open()

    opener = threading.Thread(target=open_once_stopping, daemon=True)
    opener.start()
    assert bot_process.stop(quiet=False) == 0  # SIGTERM while the result is on its way
    opener.join(10)
    fake_discord.clear_faults()
    # The shutdown waited for it: the interaction's own message has the grid.
    assert handle.original().attachments
    assert bot_process.query("SELECT delivered_at IS NOT NULL FROM jobs WHERE id = ?", number) == [
        (1,)
    ]
    bot_process.start()


def test_a_result_discord_refused_is_posted_after_the_restart(
    fake_discord: FakeDiscord, bot_process
) -> None:
    alice = fake_discord.member("alice")
    handle = fake_discord.invoke("imagine", alice, prompt="a patient hare --steps 4 --seed 9")
    waiting = handle.wait_original(_shown, 10)
    number = job_id(waiting)
    # The interaction's webhook is gone and the channel is in an outage: every way of
    # delivering the result fails, retries included.
    fake_discord.fail_next("PATCH", r"/messages/@original$", status=404, code=10015, times=1000)
    fake_discord.fail_next("POST", r"/channels/\d+/messages$", status=503, times=1000)
    eventually(
        lambda: bot_process.query("SELECT status, delivered_at FROM jobs WHERE id = ?", number),
        [("done", None)],
        timeout=60,
    )
    # Both ways were tried (with retries) before the bot gave up for now.
    eventually(lambda: "could not post its result" in bot_process.log_since(0), True, 30)
    bot_process.stop()
    fake_discord.clear_faults()
    bot_process.start()

    posted = posted_result(fake_discord, number, "a patient hare")
    assert posted.id != waiting.id and not posted.ephemeral
    assert f"<@{alice.id}>" in posted.content, "the owner is told where the result is"
    assert posted.rows == GRID_ROWS
    # The old waiting message now points to it, and the row says it was delivered.
    eventually(lambda: "see below" in fake_discord.message(waiting.id).content, True, 10)
    eventually(
        lambda: bot_process.query("SELECT delivered_at IS NOT NULL FROM jobs WHERE id = ?", number),
        [(1,)],
    )

"""A clip's life through the real bot, the tiny LTX-Video of VIDEO_MODEL and the fake
Discord: `Animate (High motion)`, the remix form's motion prompt, Cancel while the clip
runs, a clip queued across a restart, and VIDEO_COST against the daily quota.

The worker is held by the gate file the test controls (``E2E_WORKER_GATE``, see
``tests/e2e/engine_options.py``); the job rows say when it runs, never a clock."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from engine import read_clip
from tests.e2e.expect import (
    CLIP_ROWS,
    GRID_ROWS,
    assert_grid,
    assert_single,
    eventually,
    job_id,
    new_message,
    posted_result,
    press,
    refused_privately,
    restart_requeued,
    wait_result,
)
from tests.e2e.fake_discord import FakeDiscord, FakeMember, Interaction, StoredMessage
from tests.e2e.fake_discord.validation import modal_inputs

SHORT = "--steps 2"
_MADE: dict[str, Any] = {}


def _shown(message: StoredMessage) -> bool:
    """The job's message once it names its job (waiting or running)."""
    return not message.loading and bool(re.search(r"\bjob \d+\b", message.content))


def _rows(message: StoredMessage) -> list[str]:
    return [label for row in message.rows for label in row]


def _upscaled(
    fake: FakeDiscord, member: FakeMember, prompt: str
) -> tuple[StoredMessage, StoredMessage]:
    """``member``'s grid of ``prompt`` and its U1 (an upscaled image: Animate is offered)."""
    grid = wait_result(fake.invoke("imagine", member, prompt=f"{prompt} {SHORT}"))
    upscaled = new_message(fake, press(fake, grid, "U1", member), grid)
    assert_single(upscaled)
    return grid, upscaled


def _assert_clip(fake: FakeDiscord, message: StoredMessage) -> int:
    """One MP4 with the clip buttons, frames that read back; returns its frame count."""
    [attachment] = message.attachments
    assert attachment.content_type == "video/mp4" and attachment.filename.endswith(".mp4")
    assert message.rows == CLIP_ROWS
    frames, _ = read_clip(fake.attachment_bytes(attachment))
    assert len(frames) > 1
    return len(frames)


def _row(bot, number: int) -> tuple[str, dict[str, Any], str, dict[str, Any], int | None]:
    """Job ``number``'s kind, recipe, prompt, params and parent."""
    [(kind, recipe, prompt, params, parent)] = bot.query(
        "SELECT kind, recipe, prompt, params, parent_id FROM jobs WHERE id = ?", number
    )
    return kind, json.loads(recipe), prompt, json.loads(params), parent


def _form(fake: FakeDiscord, handle: Interaction) -> tuple[str, dict[str, str]]:
    """The modal ``handle`` was answered with: its title and its prefilled text inputs."""
    modal = fake.modal_of(handle)
    values = {
        item["custom_id"]: item.get("value", "") for item, _ in modal_inputs(modal["components"])
    }
    return modal["title"], values


def _clips_of(fake: FakeDiscord, number: int, since: int) -> list[StoredMessage]:
    """Public messages since ``since`` naming job ``number`` with an MP4 attached."""
    pattern = re.compile(rf"\bjob {number}\b")
    return [
        m
        for m in fake.public_messages_since(since)
        if pattern.search(m.content) and any(a.content_type == "video/mp4" for a in m.attachments)
    ]


def _shared_upscaled(fake: FakeDiscord) -> tuple[StoredMessage, StoredMessage]:
    """alice's grid and its U1 on the shared bot, made once for this module."""
    if "upscaled" not in _MADE:
        _MADE["upscaled"] = _upscaled(fake, fake.member("alice"), "a harbour at dawn")
    return _MADE["upscaled"]


def test_animate_high_motion_makes_a_high_motion_clip(
    fake_discord: FakeDiscord, bot_process
) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    _, upscaled = _shared_upscaled(fake)
    clip = new_message(fake, press(fake, upscaled, "Animate (High motion)", alice), upscaled)
    frames = _assert_clip(fake, clip)
    assert "animated (high motion)" in clip.content, clip.content
    assert "a harbour at dawn" in clip.content
    kind, recipe, prompt, params, parent = _row(bot_process, job_id(clip))
    assert kind == "animate" and recipe["kind"] == "animate"
    assert recipe["motion"] == "high", recipe
    assert recipe["source"] == {"job": job_id(upscaled), "index": 1}, recipe
    assert recipe["loop"] is False and recipe["end"] is None, recipe
    assert parent == job_id(upscaled) and prompt == "a harbour at dawn"
    assert params["frames"] == frames


def test_remix_asks_for_the_motion_prompt_of_a_clip(fake_discord: FakeDiscord, bot_process) -> None:
    fake = fake_discord
    bob = fake.member("bob")  # remix is bob's setting; the image is alice's
    _, upscaled = _shared_upscaled(fake)
    on = fake.invoke("settings", bob, remix=True)
    assert "remix: on" in on.wait_reply().content
    try:
        jobs = bot_process.count_jobs()
        opened = fake.press(upscaled, "Animate (Low motion)", bob)
        assert opened.wait_ack().type == 9, "remix: a form before the clip"
        title, values = _form(fake, opened)
        assert title == "Remix: Animate (Low motion)"
        assert values["prompt"].startswith("a harbour at dawn"), values
        assert bot_process.count_jobs() == jobs, "no job until the form is sent"
        motion = "gulls circling slowly"
        clip = new_message(fake, fake.submit_modal(opened, {"prompt": motion}), upscaled)
    finally:
        off = fake.invoke("settings", bob, remix=False)
        assert "remix: off" in off.wait_reply().content
    frames = _assert_clip(fake, clip)
    assert motion in clip.content and "animated (low motion)" in clip.content, clip.content
    assert f"<@{bob.id}>" in clip.content
    kind, recipe, prompt, params, parent = _row(bot_process, job_id(clip))
    assert kind == "animate" and recipe["motion"] == "low", recipe
    assert recipe["source"] == {"job": job_id(upscaled), "index": 1}, recipe
    assert prompt == motion and parent == job_id(upscaled)
    assert params["frames"] == frames


def test_cancel_stops_a_running_clip(fake_discord: FakeDiscord, bot_factory, gate: Path) -> None:
    fake = fake_discord
    bot = bot_factory(E2E_WORKER_GATE=gate)  # no file yet: the image jobs run
    alice = fake.member("alice")
    _, upscaled = _upscaled(fake, alice, "a windmill in a storm")
    gate.touch()  # from now on the worker holds each batch, "running", until the gate opens
    mark = fake.message_mark()
    handle = press(fake, upscaled, "Animate (Low motion)", alice)
    waiting = handle.wait_original(_shown, 10)
    number = job_id(waiting)
    assert "Cancel" in _rows(waiting), "a waiting clip can be cancelled"
    eventually(
        lambda: bot.query("SELECT status FROM jobs WHERE id = ?", number), [("running",)], 30
    )

    cancel = fake.press(handle.original(), "Cancel", alice)
    ack = cancel.wait_ack()
    assert ack.type == 5 and ack.ephemeral, "Cancel answers the presser privately"
    assert "cancelled" in cancel.wait_reply(lambda m: not m.loading, 30).content
    gate.unlink()
    eventually(
        lambda: bot.query("SELECT status, started_at IS NOT NULL FROM jobs WHERE id = ?", number),
        [("cancelled", 1)],
        30,
    )
    stopped = handle.wait_original(lambda m: "cancelled" in m.content, 30)
    assert not stopped.attachments and "Cancel" not in _rows(stopped), stopped.rows
    assert bot.query("SELECT COUNT(*) FROM images WHERE job_id = ?", number) == [(0,)]

    # The worker is free again and the video model still works: the next clip is made,
    # and nothing was ever posted for the cancelled one.
    again = new_message(fake, press(fake, upscaled, "Animate (High motion)", alice), upscaled)
    _assert_clip(fake, again)
    assert job_id(again) != number
    assert _clips_of(fake, number, mark) == [], "no MP4 for the cancelled clip"
    assert bot.query("SELECT status FROM jobs WHERE id = ?", number) == [("cancelled",)]


def test_a_queued_clip_is_posted_after_a_restart(
    fake_discord: FakeDiscord, bot_factory, gate: Path
) -> None:
    fake = fake_discord
    bot = bot_factory(E2E_WORKER_GATE=gate)  # no file yet: the image jobs run
    alice, bob = fake.member("alice"), fake.member("bob")
    _, upscaled = _upscaled(fake, alice, "a lantern on a pier")
    gate.touch()  # the worker holds the next batch, "running"; the clip waits behind it
    blocker = fake.invoke("imagine", bob, prompt=f"a slow comet {SHORT} --seed 7")
    blocker_job = job_id(blocker.wait_original(_shown, 10))
    eventually(
        lambda: bot.query("SELECT status FROM jobs WHERE id = ?", blocker_job),
        [("running",)],
        30,
    )
    handle = press(fake, upscaled, "Animate (Low motion)", alice)
    number = job_id(handle.wait_original(_shown, 10))
    eventually(
        lambda: bot.query(
            "SELECT status FROM jobs WHERE id IN (?, ?) ORDER BY id", blocker_job, number
        ),
        [("running",), ("queued",)],
    )

    # A clean stop queues the running job again without using its retry; the clip waits.
    restart_requeued(bot, gate, blocker_job, number)

    posted = posted_result(fake, number, "a lantern on a pier")
    _assert_clip(fake, posted)
    assert "animated (low motion)" in posted.content and f"<@{alice.id}>" in posted.content
    eventually(
        lambda: bot.query("SELECT status, kind, message_id FROM jobs WHERE id = ?", number),
        [("done", "animate", posted.id)],
    )
    # The image job it waited behind is posted too.
    assert_grid(posted_result(fake, blocker_job, "a slow comet"))


def test_a_clip_counts_video_cost_against_the_daily_quota(
    fake_discord: FakeDiscord, bot_factory
) -> None:
    fake = fake_discord
    bot = bot_factory(DAILY_QUOTA=6, VIDEO_COST=3)
    alice = fake.member("alice")
    grid, upscaled = _upscaled(fake, alice, "a kite over dunes")  # 2 jobs of 6

    # Within the quota (2 + 3 = 5 of 6): admitted, and made.
    clip = new_message(fake, press(fake, upscaled, "Animate (Low motion)", alice), upscaled)
    _assert_clip(fake, clip)
    assert bot.query("SELECT kind FROM jobs WHERE id = ?", job_id(clip)) == [("animate",)]

    # Another clip would make 8 of 6: refused privately, saying what a clip counts as;
    # no job row, nothing public.
    for pressed, label in ((upscaled, "Animate (High motion)"), (clip, "Extend (Low motion)")):
        jobs = bot.count_jobs()
        mark = fake.message_mark()
        reply = refused_privately(fake.press(pressed, label, alice), alice)
        left = "A clip counts as 3 jobs and you have 1 of your 6 left today"
        assert left in reply.content, (label, reply.content)
        assert bot.count_jobs() == jobs, f"{label}: a refused clip added a job row"
        assert fake.public_messages_since(mark) == [], f"{label} left a public trace"

    # An image job (one unit) still fits in what is left.
    varied = new_message(fake, press(fake, grid, "V1", alice), grid)
    assert varied.rows == GRID_ROWS
    # All 6 used: a clip is refused too, still saying what a clip counts as; no row.
    jobs = bot.count_jobs()
    full = refused_privately(fake.press(upscaled, "Animate (Low motion)", alice), alice)
    assert "A clip counts as 3 jobs and you have 0 of your 6" in full.content, full.content
    assert bot.count_jobs() == jobs

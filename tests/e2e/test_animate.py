"""Animate end to end (issue 27, its first part): on an upscaled image, `Animate (Low
motion)` makes a clip through the real bot, the tiny LTX-Video of VIDEO_MODEL
(bot_process.py) and the fake Discord, posted as an MP4 (H.264, read back with PyAV) with
`Extend` and `🔄`; `Extend` makes a longer clip that starts as the first one; where files
must be smaller, a clip is encoded again to fit."""

from __future__ import annotations

import json

import numpy as np

from engine import read_clip
from tests.e2e.expect import CLIP_ROWS, assert_single, job_id, new_message, press, wait_result
from tests.e2e.fake_discord import FakeDiscord

SHORT = "--steps 2"


def test_animate_then_extend_an_upscaled_image(fake_discord: FakeDiscord, bot_process) -> None:
    fake = fake_discord
    owner = fake.member("owner")
    grid = wait_result(fake.invoke("imagine", owner, prompt=f"a lighthouse at dusk {SHORT}"))
    upscaled = new_message(fake, press(fake, grid, "U1", owner), grid)
    assert_single(upscaled)  # its rows include Animate (Low motion) and (High motion)
    clip = new_message(fake, press(fake, upscaled, "Animate (Low motion)", owner), upscaled)
    [attachment] = clip.attachments
    assert attachment.content_type == "video/mp4" and attachment.filename.endswith(".mp4")
    assert clip.rows == CLIP_ROWS
    assert "animated (low motion)" in clip.content
    frames, fps = read_clip(fake.attachment_bytes(attachment))
    number = job_id(clip)
    [(params, kind)] = bot_process.query("SELECT params, kind FROM jobs WHERE id = ?", number)
    stored = json.loads(params)
    assert kind == "animate" and len(frames) == stored["frames"] and fps == stored["fps"]
    longer = new_message(fake, press(fake, clip, "Extend (High motion)", owner), clip)
    extended, _ = read_clip(fake.attachment_bytes(longer.attachments[0]))
    assert len(extended) > len(frames) and "extended (high motion)" in longer.content
    # The longer clip starts as the first one (lossy codec: a tolerance).
    assert np.abs(extended[: len(frames)].astype(int) - frames.astype(int)).mean() < 12

    # Where files must be smaller than the clip (two fifths of the first one's size: the
    # tiny model's noise clips are all about one size), a 🔄's clip is encoded again to
    # fit (a lower bitrate) rather than refused or failed.
    limit = len(fake.attachment_bytes(attachment)) * 2 // 5
    fake.attachment_size_limit, before = limit, fake.attachment_size_limit
    try:
        again = new_message(fake, press(fake, clip, "🔄", owner), clip)
    finally:
        fake.attachment_size_limit = before
    [sent] = again.attachments
    data = fake.attachment_bytes(sent)
    folder = bot_process.data_dir / "images" / str(job_id(again))
    assert len(data) <= limit < (folder / "clip.mp4").stat().st_size
    assert (folder / f"clip-{limit}.mp4").read_bytes() == data  # kept for the next time
    refitted, _ = read_clip(data)
    assert len(refitted) == len(frames) and again.rows == CLIP_ROWS


def test_imagine_with_an_image_and_video_posts_a_clip(
    fake_discord: FakeDiscord, bot_process
) -> None:
    from tests.images import drawing, encoded

    fake = fake_discord
    owner = fake.member("owner")
    upload = fake.upload("house.png", encoded(drawing(), "PNG"))
    handle = fake.invoke(
        "imagine", owner, prompt="a house in the wind --video --motion high --loop", image=upload
    )
    clip = wait_result(handle)
    [attachment] = clip.attachments
    assert attachment.content_type == "video/mp4" and clip.rows == CLIP_ROWS
    assert "Your image animated (high motion) · loop" in clip.content
    frames, _ = read_clip(fake.attachment_bytes(attachment))
    number = job_id(clip)
    [(recipe,)] = bot_process.query("SELECT recipe FROM jobs WHERE id = ?", number)
    assert json.loads(recipe)["loop"] is True and len(frames) == 9
    # /history lists the clip with its first frame as the thumbnail.
    history = fake.invoke("history", owner).wait_reply(lambda m: not m.loading and bool(m.text))
    assert history.ephemeral and f"job {number}" in history.text
    assert f"attachment://job-{number}.webp" in history.media
    [thumbnail] = [a for a in history.attachments if a.filename == f"job-{number}.webp"]
    folder = bot_process.data_dir / "images" / str(number)
    assert thumbnail.data == (folder / "thumb.webp").read_bytes()


def test_a_running_clip_shows_its_preview_frame_and_a_flagged_clip_is_withheld(
    fake_discord: FakeDiscord, bot_factory, step_gate, tmp_path
) -> None:
    """Held at the end of its first step, a clip's message shows that step's preview (the
    middle frame from the latents); with a classifier that flags everything, the preview is
    a spoiler and the clip itself withheld outside NSFW channels, and shown inside one."""
    from devtools.tiny import write_tiny_classifier
    from tests.images import drawing, encoded

    fake = fake_discord
    classifier = write_tiny_classifier(tmp_path / "tiny-nsfw")
    bot = bot_factory(
        NSFW_FILTER="blur",
        NSFW_MODEL=classifier,
        NSFW_THRESHOLD=0,
        E2E_STEP_GATE=step_gate,
        E2E_PREVIEW_SECONDS=0,
    )
    owner = fake.member("owner")
    upload = fake.upload("kite.png", encoded(drawing(), "PNG"))
    messages = {}
    for channel in ("general", "nsfw"):
        step_gate.write_text("1")  # the tiny model's clips take 2 steps: held at 50%
        handle = fake.invoke(
            "imagine", owner, prompt="a kite in the wind --video", image=upload, channel=channel
        )
        running = handle.wait_original(
            lambda m: "running: 50%" in m.content and bool(m.attachments), 60
        )
        [attachment] = running.attachments
        number = job_id(running)
        [(params,)] = bot.query("SELECT params FROM jobs WHERE id = ?", number)
        width, height = json.loads(params)["width"], json.loads(params)["height"]
        preview = running.image()
        assert max(preview.size) == 256  # the clip's shape, at 256 px
        assert abs(preview.width / preview.height - width / height) < 0.02
        step_gate.unlink()
        messages[channel] = (attachment.filename, handle.wait_original(_done, 120))
    (outside_preview, outside), (inside_preview, inside) = messages["general"], messages["nsfw"]
    assert (outside_preview, inside_preview) == ("SPOILER_preview.png", "preview.png")
    assert not outside.attachments and "withheld by the NSFW filter" in outside.content
    assert outside.rows == CLIP_ROWS
    [clip] = inside.attachments
    assert clip.content_type == "video/mp4" and "NSFW" not in inside.content


def _done(message) -> bool:
    """A clip's final message: its buttons, no Cancel left."""
    return message.rows == CLIP_ROWS

"""Animate end to end (issue 27, its first part): on an upscaled image, `Animate (Low
motion)` makes a clip through the real bot, the tiny LTX-Video of VIDEO_MODEL
(bot_process.py) and the fake Discord, posted as an MP4 (H.264, read back with PyAV) with
`Extend` and `🔄`; `Extend` makes a longer clip that starts as the first one."""

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
    [(recipe,)] = bot_process.query("SELECT recipe FROM jobs WHERE id = ?", job_id(clip))
    assert json.loads(recipe)["loop"] is True and len(frames) == 9

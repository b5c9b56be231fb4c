"""engine/clips.py: frames to a Discord-ready MP4 (H.264, yuv420p, fast start, the recipe,
under a size limit) and back, read with PyAV itself."""

from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest
from PIL import Image

from engine.clips import MIN_SIDE, encode_clip, last_frames, read_clip, read_recipe

FPS = 24


def moving_frames(
    count: int = 36, width: int = 128, height: int = 96, grain: float = 0
) -> np.ndarray:
    """Smooth gradients that move frame to frame (and grain, to make the encoder work)."""
    rng = np.random.default_rng(7)
    t = np.arange(count, dtype=np.float32)[:, None, None]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.stack(
        [
            128 + 90 * np.sin((x + 3 * t) / 17),
            128 + 90 * np.sin((y - 2 * t) / 13 + x / 40),
            128 + 60 * np.sin((x + y + 4 * t) / 23),
        ],
        axis=-1,
    )
    frames += rng.normal(0, grain, frames.shape) if grain else 0
    return np.clip(frames, 0, 255).astype(np.uint8)


def top_level_boxes(data: bytes) -> list[str]:
    """The MP4's top-level box types, in file order."""
    boxes, position = [], 0
    while position + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[position : position + 8])
        if size == 1:  # a 64-bit size follows the type
            size = struct.unpack(">Q", data[position + 8 : position + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size == 0:  # to the end of the file
            break
        position += size
    return boxes


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return moving_frames()


@pytest.fixture(scope="module")
def clip(frames):
    recipe = {"prompt": "a lighthouse at dusk ☕", "seed": "42", "model": "ltx", "job": "17"}
    return encode_clip(frames, FPS, limit_bytes=10 * 1024 * 1024, metadata=recipe)


def test_a_clip_has_the_frames_fps_and_size_asked_for(clip, frames):
    """PyAV decodes every frame back, at the size and rate given; one quality encode."""
    with av.open(io.BytesIO(clip.data)) as container:
        stream = container.streams.video[0]
        decoded = sum(1 for _ in container.decode(stream))
        assert (stream.codec_context.width, stream.codec_context.height) == (128, 96)
        assert stream.average_rate == FPS
    assert decoded == clip.frames == len(frames)
    assert (clip.width, clip.height, clip.fps) == (128, 96, FPS)
    assert (clip.crf, clip.bitrate, clip.attempts) == (23, None, 1)
    assert clip.duration == pytest.approx(len(frames) / FPS)
    pixels, fps = read_clip(clip.data)
    assert pixels.shape == frames.shape and pixels.dtype == np.uint8 and fps == FPS
    assert np.abs(pixels.astype(int) - frames).mean() < 6  # lossy, but the same pictures


def test_the_stream_is_h264_in_yuv420p(clip):
    with av.open(io.BytesIO(clip.data)) as container:
        context = container.streams.video[0].codec_context
        assert context.name == "h264"
        assert context.pix_fmt == "yuv420p"


def test_the_moov_box_comes_before_the_media_data(clip):
    """Fast start: a player has the index before the first media byte arrives."""
    boxes = top_level_boxes(clip.data)
    assert boxes[0] == "ftyp"
    assert "moov" in boxes and "mdat" in boxes
    assert boxes.index("moov") < boxes.index("mdat")


def test_the_recipe_is_in_the_file(clip):
    with av.open(io.BytesIO(clip.data)) as container:
        tags = container.metadata
    assert tags["title"] == "a lighthouse at dusk ☕"
    assert "seed: 42" in tags["comment"].splitlines()
    assert "model: ltx" in tags["comment"].splitlines()
    recipe = read_recipe(clip.data)
    assert recipe == {
        "prompt": "a lighthouse at dusk ☕",
        "seed": "42",
        "model": "ltx",
        "job": "17",
    }


def test_the_poster_is_the_first_frame_with_the_recipe(clip, frames):
    poster = Image.open(io.BytesIO(clip.poster))
    assert poster.size == (128, 96)
    assert np.array_equal(np.asarray(poster.convert("RGB")), frames[0])
    assert poster.text["seed"] == "42"


def test_a_clip_without_a_recipe_has_none():
    clip = encode_clip(moving_frames(4, 32, 32), FPS, limit_bytes=1 << 20)
    assert read_recipe(clip.data) == {}


def test_odd_sides_lose_their_last_row_and_column():
    frames = moving_frames(6, 101, 57)
    clip = encode_clip(frames, FPS, limit_bytes=1 << 20)
    assert (clip.width, clip.height) == (100, 56)
    pixels, _ = read_clip(clip.data)
    assert pixels.shape == (6, 56, 100, 3)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(clip.poster))), frames[0, :56, :100])


def test_over_the_limit_the_bitrate_comes_down_first():
    """A limit a quarter of the quality encode: the same size, at a bitrate, under it."""
    frames = moving_frames(36, 192, 108, grain=20)
    first = encode_clip(frames, FPS, limit_bytes=1 << 30)
    limit = len(first.data) // 4
    clip = encode_clip(frames, FPS, limit_bytes=limit)
    assert len(clip.data) <= limit
    assert clip.attempts == 2 and clip.crf is None and clip.bitrate
    assert (clip.width, clip.height) == (192, 108)
    assert len(read_clip(clip.data)[0]) == 36


def test_a_clip_fitted_again_goes_straight_to_the_bitrate():
    """Fitting a made clip to a smaller limit skips the quality encode it is known to
    be over (``core.outputs.fitting_clip``): one encode, at a bitrate, under the limit."""
    frames = moving_frames(36, 192, 108, grain=20)
    limit = len(encode_clip(frames, FPS, limit_bytes=1 << 30).data) // 4
    clip = encode_clip(frames, FPS, limit_bytes=limit, quality_first=False)
    assert len(clip.data) <= limit and clip.attempts == 1 and clip.crf is None


def test_then_the_frames_shrink_until_the_clip_fits():
    """Below what the lowest bitrate gives at full size: smaller frames, sides even."""
    frames = moving_frames(36, 192, 108, grain=20)
    floor = encode_clip(frames, FPS, limit_bytes=8000)  # the smallest full-size encode
    assert (floor.width, floor.height) == (192, 108)
    limit = len(floor.data) - 1
    clip = encode_clip(frames, FPS, limit_bytes=limit)
    assert len(clip.data) <= limit and clip.attempts >= 3
    assert clip.crf is None and clip.bitrate
    assert clip.width < 192 and clip.height < 108
    assert clip.width % 2 == 0 and clip.height % 2 == 0
    assert min(clip.width, clip.height) >= MIN_SIDE
    pixels, _ = read_clip(clip.data)
    assert pixels.shape == (36, clip.height, clip.width, 3)
    assert Image.open(io.BytesIO(clip.poster)).size == (192, 108)  # the source's size


@pytest.mark.parametrize("limit", [1 << 20, 200_000, 50_000, 20_000])
def test_realistic_limits_never_fail(limit):
    clip = encode_clip(moving_frames(48, 256, 144, grain=10), FPS, limit_bytes=limit)
    assert len(clip.data) <= limit


def test_an_absurd_limit_is_refused_clearly():
    with pytest.raises(ValueError, match="cannot fit in 100 bytes"):
        encode_clip(moving_frames(12, 96, 96), FPS, limit_bytes=100)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 32, 32), dtype=np.uint8),
        np.zeros((4, 32, 32, 3), dtype=np.float32),
        np.zeros((0, 32, 32, 3), dtype=np.uint8),
        np.zeros((4, 1, 32, 3), dtype=np.uint8),
    ],
)
def test_frames_that_are_no_clip_are_refused(bad):
    with pytest.raises(ValueError, match="frames must"):
        encode_clip(bad, FPS, limit_bytes=1 << 20)


def test_last_frames_are_the_clips_end(clip, frames):
    """Extend continues from these: the source's last frames, through a lossy codec."""
    tail = last_frames(clip.data, 5)
    assert tail.shape == (5, 96, 128, 3)
    errors = [np.abs(tail[k].astype(int) - frames[-5 + k]).mean() for k in range(5)]
    assert max(errors) < 6
    # each is closer to its own source frame than to the one before it (the order holds)
    for k in range(1, 5):
        assert errors[k] < np.abs(tail[k].astype(int) - frames[-6 + k]).mean()
    assert len(last_frames(clip.data, 1000)) == len(frames)  # all of a shorter clip
    with pytest.raises(ValueError, match="at least 1"):
        last_frames(clip.data, 0)

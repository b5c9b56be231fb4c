"""Frames to a Discord-ready MP4 and back: H.264, yuv420p, fast start, under a size limit.

A video job's frames (uint8, T x H x W x 3) become one MP4 that Discord plays inline:
H.264 through libx264 (PyAV: FFmpeg's libraries in the wheel, nothing downloaded),
yuv420p (sides made even by dropping the last row or column: one pixel nobody sees,
where padding would invent one), BT.709 colour, tagged as such, and the ``moov`` box
ahead of the media data (``movflags=+faststart``), so a player starts before the whole
file has arrived. The recipe rides in the container's metadata (``title``, ``comment``,
``description``; ``read_recipe`` reads it back), and a PNG poster of the first frame
comes with it (what Discord shows before play, and for an animated image the source
still itself) for /history and thumbnails.

Never too big for Discord: a first encode at constant quality (CRF 23, x264's
``veryfast`` preset: most of ``medium``'s compression at about half its CPU, where
``superfast`` and ``ultrafast`` give up CABAC and sub-pixel motion search and double the
file); if that is over ``limit_bytes``, again at the bitrate the limit allows for the
clip's duration (the container's share set aside first); if still over, smaller frames,
three quarters of the side each time (and the bitrate lowered by the overshoot seen),
until it fits. Only a limit no clip of ``MIN_SIDE`` pixels could meet raises.

Everything here is blocking CPU work, about ten milliseconds per 480p frame: run it on a
thread (the core's encoder pool, ``core.encoders.EncoderPool``), never on the event
loop and never on a GPU worker's thread, which should already be on its next batch.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import av
import numpy as np
from av.video.reformatter import Colorspace, Interpolation, VideoReformatter

from engine.png import encode_png_array

ENCODER: Final = "libx264"  # Final: a literal, so PyAV types the stream as video
CRF = 23  # x264's default quality: clean at 480p, about 0.5-2 MB for 5 s
PRESET = "veryfast"
SCALE_STEP = 0.75  # each size fallback: three quarters of the side
MIN_SIDE = 64  # below this a clip is no longer worth sending: the size limit is absurd
BITRATE_MARGIN = 0.92  # x264's single-pass ABR overshoots a little on short clips
MIN_BITRATE = 16_000  # bits per second: below this x264 ignores the target anyway
BT709 = 1  # ISO/IEC 23091-2 code for BT.709 primaries, transfer and matrix
MPEG_RANGE = 1  # limited range (16-235), what swscale writes and players expect


@dataclass(frozen=True)
class EncodedClip:
    """One MP4 and how it was made (``crf`` or ``bitrate``: the setting that fitted)."""

    data: bytes
    width: int
    height: int
    frames: int
    fps: int
    crf: int | None
    bitrate: int | None  # bits per second, when the quality encode was over the limit
    attempts: int  # encodes made, the one kept included
    poster: bytes  # PNG of the first frame at the clip's source size (sides even)

    @property
    def duration(self) -> float:
        """Seconds of video."""
        return self.frames / self.fps


def encode_clip(
    frames: np.ndarray,
    fps: int,
    *,
    limit_bytes: int,
    metadata: Mapping[str, str] | None = None,
    quality_first: bool = True,
) -> EncodedClip:
    """``frames`` (uint8, T x H x W x 3) as an MP4 of at most ``limit_bytes`` (blocking).
    ``metadata`` is the recipe (prompt, seed, model, job...): keys as PNG keywords.
    ``quality_first=False`` skips the constant-quality encode (known to be over the
    limit: a clip made before, fitted again for a smaller one)."""
    if ENCODER not in av.codecs_available:
        raise RuntimeError(f"this PyAV build has no {ENCODER} (H.264): install PyAV's wheel")
    frames = _even(_checked(frames, fps, limit_bytes))
    count, height, width, _ = frames.shape
    tags = _tags(metadata or {})
    poster = encode_png_array(frames[0], {str(k): str(v) for k, v in (metadata or {}).items()})
    attempts = 0
    if quality_first:
        data = _encode(frames, fps, width, height, tags, crf=CRF)
        attempts = 1
        if len(data) <= limit_bytes:
            return EncodedClip(data, width, height, count, fps, CRF, None, 1, poster)
    # The container's share: a header, the metadata and about 32 bytes of tables per frame.
    overhead = 4096 + 32 * count + sum(len(v.encode()) for v in tags.values())
    budget = max(limit_bytes - overhead, 0)
    bitrate = max(int(budget * 8 * BITRATE_MARGIN * fps / count), MIN_BITRATE)
    scale = 1.0
    out_width, out_height = width, height
    while True:
        data = _encode(frames, fps, out_width, out_height, tags, bitrate=bitrate)
        attempts += 1
        if len(data) <= limit_bytes:
            return EncodedClip(
                data, out_width, out_height, count, fps, None, bitrate, attempts, poster
            )
        # Over again: smaller frames, and the bitrate lowered by the overshoot just seen.
        scale *= SCALE_STEP
        out_width, out_height = _even_side(width * scale), _even_side(height * scale)
        if min(out_width, out_height) < MIN_SIDE:
            raise ValueError(
                f"a {width}x{height} clip of {count} frames cannot fit in {limit_bytes} bytes "
                f"(still {len(data)} bytes at {bitrate} bit/s; no smaller than {MIN_SIDE} px)"
            )
        payload = max(len(data) - overhead, 1)
        bitrate = max(min(bitrate, int(bitrate * budget / payload)), MIN_BITRATE)


def read_clip(data: bytes) -> tuple[np.ndarray, int]:
    """A clip's frames (uint8, T x H x W x 3) and its frame rate (blocking)."""
    with _open(data) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return np.stack(frames), _fps(stream)


def last_frames(data: bytes, count: int) -> np.ndarray:
    """The clip's last ``count`` frames (uint8, N x H x W x 3; all of them when it has
    fewer), for Extend to continue from; only ``count`` frames are held while decoding."""
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    with _open(data) as container:
        stream = container.streams.video[0]
        kept = deque(
            (frame.to_ndarray(format="rgb24") for frame in container.decode(stream)), count
        )
    if not kept:
        raise ValueError("the clip has no frames")
    return np.stack(kept)


def read_recipe(data: bytes) -> dict[str, str]:
    """The recipe ``encode_clip`` wrote into a clip's metadata (empty when there is none)."""
    with _open(data) as container:
        text = container.metadata.get("description", "")
    try:
        recipe = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in recipe.items()} if isinstance(recipe, dict) else {}


def _checked(frames: np.ndarray, fps: int, limit_bytes: int) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 T x H x W x 3, not {frames.dtype} {frames.shape}")
    if frames.shape[0] < 1 or min(frames.shape[1:3]) < 2:
        raise ValueError(f"frames must hold at least one 2x2 frame, not {frames.shape}")
    if fps < 1:
        raise ValueError(f"fps must be at least 1, not {fps}")
    if limit_bytes < 1:
        raise ValueError(f"limit_bytes must be positive, not {limit_bytes}")
    return frames


def _even(frames: np.ndarray) -> np.ndarray:
    """yuv420p halves the chroma both ways: an odd side loses its last row or column."""
    _, height, width, _ = frames.shape
    return frames[:, : height - height % 2, : width - width % 2]


def _even_side(side: float) -> int:
    return max(2, int(side) // 2 * 2)


def _tags(metadata: Mapping[str, str]) -> dict[str, str]:
    """The recipe as MP4 tags: the prompt as the title (what players show), ``key: value``
    lines as the comment (readable anywhere) and JSON as the description (read back)."""
    recipe = {str(k): str(v) for k, v in metadata.items()}
    if not recipe:
        return {}
    tags = {
        "comment": "\n".join(f"{k}: {v}" for k, v in recipe.items()),
        "description": json.dumps(recipe, ensure_ascii=False),
    }
    if recipe.get("prompt"):
        tags["title"] = recipe["prompt"]
    return tags


def _encode(
    frames: np.ndarray,
    fps: int,
    width: int,
    height: int,
    tags: Mapping[str, str],
    *,
    crf: int | None = None,
    bitrate: int | None = None,
) -> bytes:
    """One encode. FFmpeg's fast start rewrites the file through its path (it reads the
    media back after the ``moov`` box), so it goes through a temporary file."""
    with tempfile.TemporaryDirectory(prefix="clip-") as folder:
        path = Path(folder) / "clip.mp4"
        with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            out.metadata.update(tags)
            stream = out.add_stream(ENCODER, rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            context = stream.codec_context
            context.color_primaries = context.color_trc = context.colorspace = BT709
            context.color_range = MPEG_RANGE
            options: dict[str, object] = {"preset": PRESET}  # PyAV's stubs: object values
            if bitrate is None:
                options["crf"] = str(crf if crf is not None else CRF)
            else:
                # Plain single-pass ABR: within a few per cent of its target here, where a
                # VBV buffer (maxrate, bufsize) lets a short clip overshoot by the buffer.
                context.bit_rate = bitrate
            stream.options = options
            scaler = VideoReformatter()
            for index, pixels in enumerate(frames):
                frame = scaler.reformat(
                    av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24"),
                    width,
                    height,
                    "yuv420p",
                    dst_colorspace=Colorspace.ITU709,
                    interpolation=Interpolation.AREA,
                    threads=1,
                )
                frame.pts = index
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        return path.read_bytes()


def _open(data: bytes) -> av.container.InputContainer:
    return av.open(io.BytesIO(data), mode="r")


def _fps(stream: av.video.stream.VideoStream) -> int:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return round(float(rate)) if rate else 0

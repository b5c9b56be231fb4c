"""Image-to-video on LTX-Video (diffusers' ``LTXConditionPipeline``): load the model, plan a
clip, run it.

LTX-Video conditions a clip on frames at chosen positions: the start image at frame 0, an
end image (or the start image again, for a loop) at the last frame, and for Extend the last
frames of the previous clip as a video at frame 0, which the new clip re-renders and then
continues (``extend_clip`` joins the two). Its VAE compresses 32x in space and 8x in time:
sides are multiples of 32 and a clip has 8k+1 frames.

Motion (``--motion low|high``) maps to what the model responds to. The main lever is the
prompt: LTX-Video is trained on descriptive captions that say how things and the camera
move ("the camera remains stationary"), so a sentence about the motion is appended to the
prompt. The second is the noise on the held frames (``image_cond_noise_scale``): low motion
holds the conditioning frames exactly (0, as Lightricks run the distilled model), high motion
lets the model move off them a little (0.025, the value they give for the timestep-aware
VAEs), which loosens the clip around the start and end frames. The conditioning strength
stays 1 either way, so the first frame remains the source image.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.loading import LOADING, fetched
from engine.model import FamilyDefaults, LoadedModel, name_of, pick_device

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from engine.clip_jobs import Fetch

logger = logging.getLogger(__name__)

# The default VIDEO_MODEL: LTX-Video 0.9.8 13B, guidance- and timestep-distilled, in
# diffusers' layout (diffusers' LTX-Video page runs it with LTXConditionPipeline).
DEFAULT_VIDEO_MODEL = "Lightricks/LTX-Video-0.9.8-13B-distilled"

SPATIAL = 32  # pixels per latent side: sides are multiples of it
TEMPORAL = 8  # frames per latent frame after the first: clips have 8k+1 frames
CLIP_FPS = 24
CLIP_FRAMES = 121  # five seconds at 24 fps
MIN_SIDE, MAX_SIDE = 64, 1280  # Lightricks: best under 720x1280
MAX_FRAMES = 257  # Lightricks: best below 257 frames
PREFIX_FRAMES = 17  # the previous clip's last frames an Extend continues from (8k+1)
MOTIONS = ("low", "high")
MAX_STEPS = 100
MAX_GUIDANCE = 20.0

# Native: one pass at 480p (832x480), as Midjourney's clips and diffusers' 0.9.8 example
# (Lightricks' 1216x704 is a two-pass multiscale output whose first pass is 2/3 of it).
NATIVE_SIDE = 832
# The distilled model: 8 steps on Lightricks' own schedule, no classifier-free guidance (so
# a negative prompt only counts on a model run with guidance above 1, such as a dev one).
LTX_DISTILLED = FamilyDefaults(
    "ltx-video", steps=8, guidance=1.0, native_size=NATIVE_SIDE, tile=False, chaos=False
)
LTX_DEV = FamilyDefaults(
    "ltx-video-dev", steps=30, guidance=3.0, native_size=NATIVE_SIDE, tile=False, chaos=False
)
# diffusers' LTX-Video page, for the distilled 0.9.7/0.9.8 first pass (8 timesteps).
DISTILLED_TIMESTEPS = (1000.0, 993.0, 987.0, 981.0, 975.0, 909.0, 725.0, 0.03)
# The timestep-aware VAE decodes from a little noise (Lightricks' 0.9.8 configs).
DECODE_TIMESTEP = 0.05
DECODE_NOISE_SCALE = 0.025
# Lightricks' usual negative prompt, for models run with guidance above 1.
DEFAULT_NEGATIVE = "worst quality, inconsistent motion, blurry, jittery, distorted"
MOTION_PHRASES = {
    "low": "Subtle, gentle motion; the camera remains stationary.",
    "high": "Dynamic, energetic motion; the camera moves through the scene.",
}
MOTION_IMAGE_NOISE = {"low": 0.0, "high": 0.025}


# What from_pretrained reads of a diffusers-layout repository (the hub's LTX-Video repos
# also hold single-file checkpoints of tens of GB that it never reads).
PIPELINE_FILES = ["model_index.json", *(f"{part}/*" for part in (
    "scheduler", "text_encoder", "tokenizer", "transformer", "vae"
))]  # fmt: skip


def prefetch(source: str, fetch: Fetch) -> threading.Thread | None:
    """Download a hub video model's pipeline files into the hub's cache on a thread of
    its own (the bot's start), ``fetch`` busy from now until it ends (clips are refused
    meanwhile, saying so), so that a first clip loads from disk instead of holding a
    worker for the download. A folder needs nothing (None); a failure is logged (the
    first clip's load then fails saying why, and ``engine.resident`` keeps that failure
    for a while)."""
    if Path(source).expanduser().is_dir():
        return None
    fetch.begin()
    thread = threading.Thread(target=_fetch, args=(source, fetch), name="prefetch-video")
    thread.daemon = True
    thread.start()
    return thread


def _fetch(source: str, fetch: Fetch) -> None:
    started = time.perf_counter()
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(source, allow_patterns=PIPELINE_FILES)
    except Exception as exc:
        logger.warning("video model %s not fetched ahead: %s", source, exc)
    else:
        logger.info("video model %s fetched in %.1f s", source, time.perf_counter() - started)
    finally:
        fetch.end()


def video_defaults(source: str) -> FamilyDefaults:
    """The family defaults for a video model by its name: a dev checkpoint's (``-dev``), else
    the distilled model's."""
    name = source.lower()
    return LTX_DEV if re.search(r"[-_]dev\b", name) and "distilled" not in name else LTX_DISTILLED


def load_video_model(
    source: str, device_setting: str = "auto", *, place: bool = True
) -> LoadedModel:
    """Load an LTX-Video model (a hub id or a diffusers folder) for the chosen device,
    bfloat16 on accelerators and float32 on the CPU; ``place=False`` leaves its weights in
    CPU memory for the caller to make room first (as ``engine.model.load_model``)."""
    import torch
    from diffusers import LTXConditionPipeline

    device = pick_device(device_setting)
    dtype = torch.bfloat16 if device.startswith(("cuda", "mps")) else torch.float32
    path = Path(source).expanduser()
    logger.info("loading video model %s on %s (%s)", source, device, dtype)
    local = fetched(str(path) if path.is_dir() else source)  # downloaded outside the lock
    with LOADING:  # never beside another thread's load (engine.loading)
        pipe = LTXConditionPipeline.from_pretrained(local, dtype=dtype)
    if place:
        pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    name = name_of(source)
    defaults = video_defaults(source)
    logger.info("video model %s ready: family %s", name, defaults.family)
    return LoadedModel(name, pipe, None, device, pipe.dtype, defaults, inpaint=None)


@dataclass(frozen=True, slots=True)
class ClipPlan:
    """One clip: its start image, prompt and shape, and where else it is held: ``loop``
    ends on the start image, ``end`` on another image, ``prefix`` (an MP4 or a folder of
    frames of the clip being extended) starts from that clip's last frames."""

    source: Path
    prompt: str
    negative: str = ""
    width: int = NATIVE_SIDE
    height: int = 480
    frames: int = CLIP_FRAMES
    fps: int = CLIP_FPS
    steps: int = LTX_DISTILLED.steps
    guidance: float = LTX_DISTILLED.guidance
    seed: int = 0
    motion: str = "low"
    loop: bool = False
    end: Path | None = None
    prefix: Path | None = None

    def problems(self) -> list[str]:
        """What is wrong with it, as sentences (empty when it can run)."""
        problems = []
        for side, value in (("width", self.width), ("height", self.height)):
            if not isinstance(value, int) or value % SPATIAL or not MIN_SIDE <= value <= MAX_SIDE:
                problems.append(
                    f"the {side} must be a multiple of {SPATIAL} from {MIN_SIDE} to {MAX_SIDE}"
                    f" (got {value!r})"
                )
        frames = self.frames
        if not isinstance(frames, int) or frames % TEMPORAL != 1 or not 9 <= frames <= MAX_FRAMES:
            problems.append(
                f"a clip has 8k+1 frames, 9 to {MAX_FRAMES} (got {frames!r}; e.g. {CLIP_FRAMES})"
            )
        if not isinstance(self.fps, int) or not 1 <= self.fps <= 60:
            problems.append(f"fps must be 1..60 (got {self.fps!r})")
        if not isinstance(self.steps, int) or not 1 <= self.steps <= MAX_STEPS:
            problems.append(f"steps must be 1..{MAX_STEPS} (got {self.steps!r})")
        if not 0 <= self.guidance <= MAX_GUIDANCE:
            problems.append(f"guidance must be 0..{MAX_GUIDANCE:g} (got {self.guidance!r})")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            problems.append(f"seed must be in 0..2**32-1 (got {self.seed!r})")
        if self.motion not in MOTIONS:
            problems.append(f"motion must be one of {', '.join(MOTIONS)} (got {self.motion!r})")
        if self.loop and self.end is not None:
            problems.append("a clip either loops or ends on another image, not both")
        return problems


def motion_prompt(prompt: str, motion: str) -> str:
    """The prompt the model reads: the user's, then the sentence about the motion."""
    text = prompt.strip()
    if text and text[-1] not in ".!?;":
        text += "."
    return f"{text} {MOTION_PHRASES[motion]}".strip()


def overlap_frames(available: int, frames: int) -> int:
    """How many of a previous clip's last frames (``available``) condition a continuation of
    ``frames`` frames: at most ``PREFIX_FRAMES``, 8k+1, and fewer than the continuation has
    by at least one latent frame (so that it adds something)."""
    limit = min(available, PREFIX_FRAMES, frames - TEMPORAL)
    if limit < 1:
        raise ValueError(f"a clip of {frames} frames cannot continue {available} frames")
    return (limit - 1) // TEMPORAL * TEMPORAL + 1


def extend_clip(previous: np.ndarray, continuation: np.ndarray) -> np.ndarray:
    """The previous clip, then what its continuation adds (the continuation's first
    ``overlap_frames`` frames re-render the previous clip's last ones: those are dropped)."""
    import numpy as np

    overlap = overlap_frames(len(previous), len(continuation))
    return np.concatenate([previous, continuation[overlap:]])


def run_clip(model: LoadedModel, plan: ClipPlan, step_end: Any = None) -> np.ndarray:
    """Run ``plan`` on ``model`` (an LTX-Video ``LoadedModel``): its frames as uint8,
    frames x height x width x 3. ``step_end`` is passed as ``callback_on_step_end``."""
    import numpy as np

    problems = plan.problems()
    if problems:
        raise ValueError("; ".join(problems))
    arguments = clip_arguments(model, plan)
    if step_end is not None:
        arguments["callback_on_step_end"] = step_end
    frames = model.text2img(**arguments).frames[0]
    return (np.clip(np.asarray(frames), 0.0, 1.0) * 255).round().astype(np.uint8)


def clip_arguments(model: LoadedModel, plan: ClipPlan) -> dict[str, Any]:
    """The pipeline's arguments for ``plan``: its conditions, prompts, shape and schedule."""
    import torch

    defaults = model.defaults
    schedule: dict[str, Any] = {"num_inference_steps": plan.steps}
    if defaults.family == LTX_DISTILLED.family and plan.steps == len(DISTILLED_TIMESTEPS):
        schedule = {"timesteps": list(DISTILLED_TIMESTEPS)}
    return {
        "conditions": clip_conditions(plan),
        "prompt": motion_prompt(plan.prompt, plan.motion),
        "negative_prompt": plan.negative or DEFAULT_NEGATIVE,
        "width": plan.width,
        "height": plan.height,
        "num_frames": plan.frames,
        "frame_rate": plan.fps,
        "guidance_scale": plan.guidance,
        "image_cond_noise_scale": MOTION_IMAGE_NOISE[plan.motion],
        "decode_timestep": DECODE_TIMESTEP,
        "decode_noise_scale": DECODE_NOISE_SCALE,
        "generator": torch.Generator("cpu").manual_seed(plan.seed),
        "output_type": "np",
        **schedule,
    }


def clip_conditions(plan: ClipPlan) -> list[Any]:
    """The frames ``plan`` holds: the start (the source image, or the previous clip's last
    frames for an Extend) at frame 0, and the loop's or end's image at the last frame."""
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    size = (plan.width, plan.height)
    if plan.prefix is None:
        conditions = [LTXVideoCondition(image=still(plan.source, size), frame_index=0)]
    else:
        kept = last_frames(plan.prefix, PREFIX_FRAMES, size)
        video = kept[len(kept) - overlap_frames(len(kept), plan.frames) :]
        conditions = [LTXVideoCondition(video=video, frame_index=0)]
    last = plan.frames - 1
    if plan.loop:
        conditions.append(LTXVideoCondition(image=still(plan.source, size), frame_index=last))
    elif plan.end is not None:
        conditions.append(LTXVideoCondition(image=still(plan.end, size), frame_index=last))
    return conditions


def still(path: Path, size: tuple[int, int]) -> Image.Image:
    """An image file as RGB, cover-cropped around its middle to ``size`` (no squashing)."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        return ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)


_FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def last_frames(path: Path, count: int, size: tuple[int, int]) -> list[Image.Image]:
    """The last ``count`` frames (fewer if it has fewer) of an MP4, or of a folder of image
    files in name order, each cover-cropped to ``size``."""
    from PIL import Image, ImageOps

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in _FRAME_SUFFIXES)
        frames = [still(file, size) for file in files[-count:]]
    else:
        import av

        # Decoded frames are held as they come (only the last ``count``) and only those
        # become images: a 21 s clip's 500 conversions would cost the worker a second.
        with av.open(str(path)) as container:
            kept = deque(container.decode(video=0), maxlen=count)
            images = [frame.to_image() for frame in kept]
        frames = [ImageOps.fit(f.convert("RGB"), size, Image.Resampling.LANCZOS) for f in images]
    if not frames:
        raise ValueError(f"no frames in {path}")
    return frames

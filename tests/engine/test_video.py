"""Image-to-video on the tiny random LTX-Video pipeline, loaded from disk through the real
``from_pretrained`` path: the clip's shape, what the pipeline is given for the start, a
loop, an end image and an Extend, the plan's refusals and the step callback.

The tiny VAE has random weights: its frames do not look like the source (a red and a blue
start give clips of nearly the same colour), so the conditioning is checked where it is
handed over, at the pipeline's call.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from engine.video import (
    DISTILLED_TIMESTEPS,
    LTX_DEV,
    LTX_DISTILLED,
    MOTION_PHRASES,
    ClipPlan,
    extend_clip,
    load_video_model,
    overlap_frames,
    run_clip,
    video_defaults,
)

RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.fixture(scope="module")
def video_model(tmp_path_factory: pytest.TempPathFactory):
    """The tiny LTX-Video, written and loaded once for this module."""
    from devtools.tiny_video import write_tiny_video_model

    folder = write_tiny_video_model(tmp_path_factory.mktemp("video") / "tiny-ltx")
    return load_video_model(str(folder), "cpu")


class Recording:
    """The pipeline, with each call's arguments kept."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **arguments: Any) -> Any:
        self.calls.append(arguments)
        return self.pipe(**arguments)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)


def recorded(model) -> tuple[Any, Recording]:
    """The model with its pipeline recorded."""
    recording = Recording(model.text2img)
    return dataclasses.replace(model, text2img=recording), recording


def picture(path: Path, color: tuple[int, int, int], size=(64, 64)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


def small(source: Path, **changes: Any) -> ClipPlan:
    """A clip the tiny model makes in well under a second: 64x64, 9 frames, 2 steps."""
    plan = ClipPlan(source, "a fox runs", width=64, height=64, frames=9, steps=2, seed=7)
    return dataclasses.replace(plan, **changes)


def colour(image: Image.Image) -> tuple[int, ...]:
    """The mean colour of an image, rounded."""
    return tuple(round(float(c)) for c in np.asarray(image, dtype=np.float64).mean(axis=(0, 1)))


def test_loads_the_tiny_model_through_from_pretrained(video_model):
    import torch
    from diffusers import LTXConditionPipeline

    assert isinstance(video_model.text2img, LTXConditionPipeline)
    assert video_model.img2img is None and video_model.inpaint is None
    assert (video_model.name, video_model.device) == ("tiny-ltx", "cpu")
    assert video_model.dtype == torch.float32
    assert video_model.defaults == LTX_DISTILLED
    assert not (video_model.defaults.tile or video_model.defaults.chaos)
    assert video_model.defaults.negative


def test_defaults_by_checkpoint_name():
    assert video_defaults("Lightricks/LTX-Video-0.9.8-13B-distilled") == LTX_DISTILLED
    assert video_defaults("Lightricks/LTX-Video-0.9.7-dev") == LTX_DEV
    assert video_defaults("/models/tiny-ltx") == LTX_DISTILLED


def test_clip_has_the_planned_frames_and_size(video_model, tmp_path):
    source = picture(tmp_path / "red.png", RED)
    square = run_clip(video_model, small(source))
    assert square.shape == (9, 64, 64, 3) and square.dtype == np.uint8
    wide = run_clip(video_model, small(source, width=96, frames=17))
    assert wide.shape == (17, 64, 96, 3)
    again = run_clip(video_model, small(source))
    assert np.array_equal(square, again), "one seed, one clip"


def test_start_image_conditions_the_first_frame(video_model, tmp_path):
    model, recording = recorded(video_model)
    for name, color in (("red", RED), ("blue", BLUE)):
        run_clip(model, small(picture(tmp_path / f"{name}.png", color)))
    for call, color in zip(recording.calls, (RED, BLUE), strict=True):
        [start] = call["conditions"]
        assert start.frame_index == 0 and start.strength == 1.0 and start.video is None
        assert start.image.size == (64, 64) and colour(start.image) == color
        assert call["num_frames"] == 9 and (call["width"], call["height"]) == (64, 64)
        assert call["output_type"] == "np" and call["frame_rate"] == 24


def test_the_first_latent_frame_is_the_source_through_the_vae(video_model, tmp_path, monkeypatch):
    """Through the tiny VAE: the clip's first latent frame (what its first frame decodes
    from) is the source image's encoding, exactly at low motion and within the held
    frames' noise at high motion; a red and a blue source start differently."""
    import torch

    from engine.video import clip_arguments
    from engine.video_preview import _normalised

    pipe = video_model.text2img
    vae, encoded = pipe.vae, []
    encode = vae.encode

    def recording(video, *args, **kwargs):  # the encoding the pipeline samples, kept
        output = encode(video, *args, **kwargs)
        sample = output.latent_dist.sample

        def kept(generator=None):
            encoded.append(sample(generator))
            return encoded[-1]

        output.latent_dist.sample = kept
        return output

    monkeypatch.setattr(vae, "encode", recording)
    firsts = {}
    for name, color in (("red", RED), ("blue", BLUE)):
        for motion, tolerance in (("low", 0.0), ("high", 0.1)):
            encoded.clear()
            plan = small(picture(tmp_path / f"{name}.png", color), motion=motion)
            arguments = {**clip_arguments(video_model, plan), "output_type": "latent"}
            with torch.no_grad():
                first = pipe(**arguments).frames[0, :, 0]
            [source] = encoded  # the start image, encoded once
            expected = _normalised(vae, source)[0, :, 0]
            assert (first - expected).abs().max() <= tolerance, (name, motion)
            firsts[name, motion] = first
    assert (firsts["red", "low"] - firsts["blue", "low"]).abs().mean() > 0.1


def test_source_is_cropped_to_the_clip_not_squashed(video_model, tmp_path):
    source = tmp_path / "halves.png"
    image = Image.new("RGB", (192, 64), RED)  # red | blue | red: the middle third is blue
    image.paste(Image.new("RGB", (64, 64), BLUE), (64, 0))
    image.save(source)
    model, recording = recorded(video_model)
    run_clip(model, small(source))
    [start] = recording.calls[0]["conditions"]
    assert colour(start.image) == BLUE


def test_loop_ends_on_the_start_image_and_end_on_another(video_model, tmp_path):
    source = picture(tmp_path / "red.png", RED)
    finish = picture(tmp_path / "blue.png", BLUE, size=(80, 80))
    model, recording = recorded(video_model)
    looped = run_clip(model, small(source, loop=True, frames=17))
    ended = run_clip(model, small(source, end=finish, frames=17))
    assert looped.shape[0] == ended.shape[0] == 17
    (start, last), (start_2, other) = (call["conditions"] for call in recording.calls)
    assert (start.frame_index, last.frame_index) == (0, 16)
    assert colour(start.image) == colour(last.image) == RED
    assert (start_2.frame_index, other.frame_index) == (0, 16)
    assert colour(start_2.image) == RED and colour(other.image) == BLUE
    assert other.image.size == (64, 64)


def grey_frames(folder: Path, count: int) -> Path:
    """A clip as a folder of frames: frame k is grey level 10k."""
    folder.mkdir()
    for k in range(count):
        picture(folder / f"{k:04d}.png", (10 * k,) * 3)
    return folder


def test_prefix_conditions_on_the_previous_clips_last_frames(video_model, tmp_path):
    source = picture(tmp_path / "red.png", RED)
    previous = grey_frames(tmp_path / "previous", 25)
    model, recording = recorded(video_model)
    clip = run_clip(model, small(source, prefix=previous, frames=33))
    assert clip.shape[0] == 33
    [start] = recording.calls[0]["conditions"]  # the prefix replaces the start image
    assert start.frame_index == 0 and start.image is None
    assert [colour(f)[0] for f in start.video] == [10 * k for k in range(8, 25)]
    # A short continuation takes fewer frames (8k+1, one latent frame of new content at least).
    run_clip(model, small(source, prefix=previous, frames=9, loop=True))
    start, last = recording.calls[1]["conditions"]
    assert [colour(f)[0] for f in start.video] == [240]
    assert last.frame_index == 8 and colour(last.image) == RED


def test_prefix_from_an_mp4(video_model, tmp_path):
    import av

    path = tmp_path / "previous.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for k in range(12):
            image = Image.new("RGB", (64, 64), (20 * k,) * 3)
            container.mux(stream.encode(av.VideoFrame.from_image(image)))
        container.mux(stream.encode())
    model, recording = recorded(video_model)
    run_clip(model, small(picture(tmp_path / "red.png", RED), prefix=path, frames=25))
    [start] = recording.calls[0]["conditions"]
    greys = [colour(f)[0] for f in start.video]
    assert len(greys) == 9  # 12 frames: the last 9 (8k+1)
    assert all(abs(g - 20 * k) <= 6 for g, k in zip(greys, range(3, 12), strict=True)), greys


def test_extend_joins_the_continuation_after_the_overlap():
    previous = np.arange(25)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    continuation = np.full((33, 2, 2, 3), 99, np.uint8)
    joined = extend_clip(previous, continuation)
    assert overlap_frames(25, 33) == 17 and len(joined) == 25 + 33 - 17
    assert np.array_equal(joined[:25], previous) and (joined[25:] == 99).all()
    assert overlap_frames(4, 33) == 1 and overlap_frames(25, 9) == 1


def test_motion_goes_into_the_prompt_and_the_hold_on_the_frames(video_model, tmp_path):
    source = picture(tmp_path / "red.png", RED)
    model, recording = recorded(video_model)
    for motion in ("low", "high"):
        run_clip(model, small(source, motion=motion))
    low, high = recording.calls
    assert low["prompt"] == f"a fox runs. {MOTION_PHRASES['low']}"
    assert high["prompt"] == f"a fox runs. {MOTION_PHRASES['high']}"
    assert low["image_cond_noise_scale"] < high["image_cond_noise_scale"]
    assert low["guidance_scale"] == 1.0 and low["num_inference_steps"] == 2


def test_distilled_schedule_at_its_own_step_count(video_model, tmp_path):
    model, recording = recorded(video_model)
    clip = run_clip(model, small(picture(tmp_path / "red.png", RED), steps=8))
    assert clip.shape == (9, 64, 64, 3)
    assert recording.calls[0]["timesteps"] == list(DISTILLED_TIMESTEPS)
    assert "num_inference_steps" not in recording.calls[0]


def test_step_callback_runs_each_step(video_model, tmp_path):
    steps: list[int] = []

    def step_end(pipe, step, timestep, tensors):
        steps.append(step)
        return tensors

    run_clip(video_model, small(picture(tmp_path / "red.png", RED), steps=3), step_end)
    assert steps == [0, 1, 2]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"frames": 10}, "8k+1"),
        ({"frames": 1}, "8k+1"),
        ({"frames": 265}, "8k+1"),
        ({"width": 70}, "multiple of 32"),
        ({"height": 32}, "multiple of 32"),
        ({"width": 1312}, "multiple of 32"),
        ({"steps": 0}, "steps"),
        ({"guidance": -1.0}, "guidance"),
        ({"seed": -1}, "seed"),
        ({"fps": 0}, "fps"),
        ({"motion": "wild"}, "motion"),
        ({"loop": True, "end": Path("b.png")}, "loops or ends"),
    ],
)
def test_plan_problems(change, words, video_model):
    plan = small(Path("a.png"), **change)
    [problem] = plan.problems()
    assert words in problem
    with pytest.raises(ValueError, match=re.escape(words)):
        run_clip(video_model, plan)


def test_default_plan_is_a_five_second_480p_clip():
    plan = ClipPlan(Path("a.png"), "a fox")
    assert plan.problems() == []
    assert (plan.width, plan.height, plan.frames, plan.fps) == (832, 480, 121, 24)
    assert (plan.steps, plan.guidance) == (LTX_DISTILLED.steps, LTX_DISTILLED.guidance)

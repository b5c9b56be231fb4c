"""Engine parts without a pipeline run: tokenizer, family detection, sizes, grid, PNG fitting."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from core.sizes import size_for_aspect
from devtools.tiny import build_clip_vocab, write_clip_tokenizer
from engine.images import compose_grid, encode_png, fit_png
from engine.model import detect_family, pick_device, pick_dtype, single_file_pipeline_class


def test_clip_tokenizer_written_from_code_loads_and_tokenizes(tmp_path):
    from transformers import CLIPTokenizer

    size = write_clip_tokenizer(tmp_path)
    tokenizer = CLIPTokenizer.from_pretrained(str(tmp_path))
    assert len(tokenizer) == size
    ids = tokenizer("a fox in the snow")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a fox in the snow"
    # Merges learned from the built-in text make common words single tokens.
    assert len(tokenizer.tokenize("the snow")) <= 3
    vocab, merges = build_clip_vocab()
    assert "<|endoftext|>" in vocab and len(merges) > 50


def fake_pipeline(class_name, name="", scheduler="EulerDiscreteScheduler", sample=None, scale=8):
    cls = type(class_name, (), {})
    p = cls()
    p.config = SimpleNamespace(_name_or_path=name)
    p.scheduler = type(scheduler, (), {})()
    p.unet = SimpleNamespace(config=SimpleNamespace(sample_size=sample))
    p.vae_scale_factor = scale
    return p


@pytest.mark.parametrize(
    ("class_name", "model_id", "scheduler", "sample", "expected"),
    [
        (
            "StableDiffusionXLPipeline",
            "stabilityai/sdxl-turbo",
            "EulerAncestral",
            64,
            ("sdxl-turbo", 4, 0.0, 512),
        ),
        (
            "StableDiffusionPipeline",
            "stabilityai/sd-turbo",
            "EulerAncestral",
            64,
            ("sd-turbo", 4, 0.0, 512),
        ),
        (
            "StableDiffusionXLPipeline",
            "stabilityai/stable-diffusion-xl-base-1.0",
            "Euler",
            128,
            ("sdxl", 30, 6.0, 1024),
        ),
        (
            "StableDiffusionPipeline",
            "runwayml/stable-diffusion-v1-5",
            "PNDM",
            64,
            ("sd", 25, 7.0, 512),
        ),
        (
            "StableDiffusionPipeline",
            "stabilityai/stable-diffusion-2-1",
            "DDIM",
            96,
            ("sd", 25, 7.0, 768),
        ),
        (
            "StableDiffusionPipeline",
            "/models/my-merge",
            "LCMScheduler",
            64,
            ("sd-turbo", 4, 0.0, 512),
        ),
    ],
)
def test_family_defaults_are_detected(class_name, model_id, scheduler, sample, expected):
    defaults = detect_family(
        fake_pipeline(class_name, scheduler=scheduler, sample=sample), model_id
    )
    assert (defaults.family, defaults.steps, defaults.guidance, defaults.native_size) == expected


def test_single_file_checkpoints_pick_their_pipeline(tmp_path):
    xl, sd = tmp_path / "xl.safetensors", tmp_path / "sd.safetensors"
    save_file({"conditioner.embedders.1.model.ln_final.weight": torch.zeros(2)}, str(xl))
    save_file(
        {"cond_stage_model.transformer.text_model.final_layer_norm.weight": torch.zeros(2)}, str(sd)
    )
    assert single_file_pipeline_class(xl).__name__ == "StableDiffusionXLPipeline"
    assert single_file_pipeline_class(sd).__name__ == "StableDiffusionPipeline"


def test_device_and_dtype():
    assert pick_device("cpu") == "cpu" and pick_device("cuda:1") == "cuda:1"
    assert pick_device("auto") in {"cpu", "cuda", "mps"}
    assert pick_dtype("cuda:0") == torch.float16 and pick_dtype("cpu") == torch.float32


@pytest.mark.parametrize(
    ("aspect", "native", "expected"),
    [
        ((1, 1), 1024, (1024, 1024)),
        ((3, 2), 1024, (1344, 896)),
        ((16, 9), 1024, (1344, 768)),
        ((1, 4), 1024, (512, 2048)),
        ((1, 1), 512, (512, 512)),
        ((3, 2), 128, (192, 128)),
        ((2, 3), 128, (128, 192)),
    ],
)
def test_sizes_are_multiples_of_64_near_the_native_pixel_count(aspect, native, expected):
    width, height = size_for_aspect(*aspect, native)
    assert (width, height) == expected
    assert width % 64 == 0 and height % 64 == 0


@pytest.mark.parametrize("aspect", [(1, 1), (3, 2), (16, 9), (4, 1), (1, 4), (7, 5), (21, 9)])
def test_sizes_keep_the_ratio_and_pixel_count(aspect):
    width, height = size_for_aspect(*aspect, 1024)
    assert abs((width / height) / (aspect[0] / aspect[1]) - 1) < 0.05
    assert 0.6 <= width * height / 1024**2 <= 1.6


def test_grid_places_images_in_reading_order():
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    grid = compose_grid([Image.new("RGB", (30, 20), c) for c in colors])
    assert grid.size == (60, 40)
    assert [grid.getpixel(p) for p in [(5, 5), (35, 5), (5, 25), (35, 25)]] == colors
    with pytest.raises(ValueError, match="4 images"):
        compose_grid([Image.new("RGB", (2, 2))] * 3)


def test_png_text_round_trips_and_fitting_scales_down():
    noise = Image.effect_noise((512, 512), 80).convert("RGB")
    data = encode_png(noise, {"prompt": "a fox", "negative": "ünïcode"})
    with Image.open(io.BytesIO(data)) as image:
        assert image.text == {"prompt": "a fox", "negative": "ünïcode"}
    fitted = fit_png(noise, len(data) // 3, {"prompt": "a fox"})
    assert len(fitted) <= len(data) // 3
    with Image.open(io.BytesIO(fitted)) as image:
        assert image.width < 512 and image.text["prompt"] == "a fox"
    assert fit_png(noise, len(data) + 1) == encode_png(noise)

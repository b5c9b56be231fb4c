"""What the engine knows of a model without running it: family, defaults, device, dtype."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import save_file

from engine.model import detect_family, pick_device, pick_dtype, single_file_pipeline_class


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
    # FLUX.1 (BFL's transformer-only file, or a whole checkpoint) and SD 3.5.
    for name, key, expected in (
        ("flux1-schnell", "double_blocks.0.img_attn.norm.key_norm.scale", "FluxPipeline"),
        ("flux-all", "model.diffusion_model.double_blocks.0.img_mod.lin.bias", "FluxPipeline"),
        (
            "sd3.5_medium",
            "model.diffusion_model.joint_blocks.0.context_block.adaLN_modulation.1.bias",
            "StableDiffusion3Pipeline",
        ),
    ):
        path = tmp_path / f"{name}.safetensors"
        save_file({key: torch.zeros(2)}, str(path))
        assert single_file_pipeline_class(path).__name__ == expected


def test_device_and_dtype(monkeypatch):
    assert pick_device("cpu") == "cpu" and pick_device("cuda:1") == "cuda:1"
    for cuda, mps, expected in ((True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda mps=mps: mps)
        assert pick_device("auto") == expected
    monkeypatch.delattr(torch.backends, "mps")
    assert pick_device("auto") == "cpu"  # a torch without MPS support at all
    assert pick_dtype("cuda:0") == torch.float16 and pick_dtype("cpu") == torch.float32
    # FLUX.1 and SD3 overflow in float16: bfloat16 on accelerators, float32 on the CPU.
    for name in ("FluxPipeline", "StableDiffusion3Pipeline"):
        assert pick_dtype("cuda", name) == pick_dtype("mps", name) == torch.bfloat16
        assert pick_dtype("cpu", name) == torch.float32
    assert pick_dtype("cuda", "StableDiffusionXLPipeline") == torch.float16

"""The full-size architectures for the benchmark: right shapes, built without weights."""

from __future__ import annotations

import pytest
import torch

from devtools.arch import unet_config


@pytest.mark.parametrize(
    ("arch", "millions"),
    [("sd15", 860), ("sd-turbo", 866), ("sdxl", 2567)],
)
def test_unet_configs_have_the_published_sizes(arch, millions):
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):  # shapes only: no memory, no time
        unet = UNet2DConditionModel(**unet_config(arch))
    count = sum(p.numel() for p in unet.parameters()) / 1e6
    assert abs(count - millions) / millions < 0.01, count


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="sd15, sdxl, sd-turbo"):
        unet_config("sd3")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arch", "family", "native", "millions"),
    [("sd15", "sd", 512, 1066), ("sd-turbo", "sd-turbo", 512, 1290), ("sdxl", "sdxl", 1024, 3469)],
)
def test_whole_pipelines_build_and_are_detected_like_the_real_models(
    arch, family, native, millions
):
    from devtools.arch import build_arch_pipeline
    from engine.model import detect_family

    pipe = build_arch_pipeline(arch, device="meta")
    modules = [pipe.unet, pipe.vae, pipe.text_encoder, getattr(pipe, "text_encoder_2", None)]
    count = sum(p.numel() for m in modules if m is not None for p in m.parameters()) / 1e6
    assert abs(count - millions) / millions < 0.01, count
    defaults = detect_family(pipe, "")
    assert (defaults.family, defaults.native_size) == (family, native)

"""Full-size Stable Diffusion architectures with random weights, built from configs in code.

For measuring a GPU without downloading anything: the compute and memory of a real
model, none of its pictures. The configs are those the public checkpoints ship with.
"""

from __future__ import annotations

from typing import Any, Literal

Arch = Literal["sd15", "sdxl", "sd-turbo"]
ARCHES: tuple[Arch, ...] = ("sd15", "sdxl", "sd-turbo")


def _clip_l(**extra: Any) -> dict:
    return {
        "vocab_size": 49408,
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
        **extra,
    }


def _vae(sample_size: int, scaling_factor: float) -> dict:
    return {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "block_out_channels": [128, 256, 512, 512],
        "layers_per_block": 2,
        "latent_channels": 4,
        "norm_num_groups": 32,
        "sample_size": sample_size,
        "scaling_factor": scaling_factor,
    }


_SD_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": [320, 640, 1280, 1280],
    "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
}


def unet_config(arch: Arch) -> dict:
    """The UNet's config for ``arch``."""
    if arch == "sd15":
        return {**_SD_UNET, "cross_attention_dim": 768, "attention_head_dim": 8}
    if arch == "sd-turbo":  # the SD 2.1 architecture: OpenCLIP-H text, linear projections
        return {
            **_SD_UNET,
            "cross_attention_dim": 1024,
            "attention_head_dim": [5, 10, 20, 20],
            "use_linear_projection": True,
        }
    if arch == "sdxl":
        return {
            "sample_size": 128,
            "in_channels": 4,
            "out_channels": 4,
            "layers_per_block": 2,
            "block_out_channels": [320, 640, 1280],
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            "transformer_layers_per_block": [1, 2, 10],
            "attention_head_dim": [5, 10, 20],
            "cross_attention_dim": 2048,
            "use_linear_projection": True,
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": 256,
            "projection_class_embeddings_input_dim": 2816,
        }
    raise ValueError(f"unknown architecture {arch!r}: use one of {', '.join(ARCHES)}")


def build_arch_pipeline(arch: Arch, *, dtype: Any = None, device: str = "cpu"):
    """A full-size text-to-image pipeline of ``arch`` with random weights."""
    import tempfile
    from pathlib import Path

    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    from devtools.tiny import write_clip_tokenizer

    dtype = dtype or torch.float32
    unet_settings = unet_config(arch)  # fails early on an unknown name
    with tempfile.TemporaryDirectory() as tmp:
        write_clip_tokenizer(Path(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(tmp, model_max_length=77)
    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    scheduler_options = {
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "steps_offset": 1,
    }
    # Schedulers hold small CPU tensors: made outside the device context.
    if arch == "sd-turbo":
        scheduler: Any = EulerAncestralDiscreteScheduler(
            **scheduler_options, timestep_spacing="trailing"
        )
    else:
        scheduler = EulerDiscreteScheduler(**scheduler_options, timestep_spacing="leading")
    with torch.device(device):  # weights made where they will run
        unet = UNet2DConditionModel(**unet_settings)
        if arch == "sdxl":
            text_encoder_2 = CLIPTextModelWithProjection(
                CLIPTextConfig(
                    **{
                        **_clip_l(**ids),
                        "hidden_size": 1280,
                        "intermediate_size": 5120,
                        "num_hidden_layers": 32,
                        "num_attention_heads": 20,
                        "hidden_act": "gelu",
                        "projection_dim": 1280,
                    }
                )
            )
            text_encoder = CLIPTextModel(CLIPTextConfig(**_clip_l(**ids)))
            vae = AutoencoderKL(**_vae(1024, 0.13025))
        else:
            text_config = _clip_l(**ids)
            if arch == "sd-turbo":  # OpenCLIP ViT-H's text tower
                text_config.update(
                    hidden_size=1024,
                    intermediate_size=4096,
                    num_hidden_layers=23,
                    num_attention_heads=16,
                    hidden_act="gelu",
                )
            text_encoder = CLIPTextModel(CLIPTextConfig(**text_config))
            vae = AutoencoderKL(**_vae(512, 0.18215))
    if arch == "sdxl":
        pipe = StableDiffusionXLPipeline(
            vae=vae,
            text_encoder=text_encoder,
            text_encoder_2=text_encoder_2,
            tokenizer=tokenizer,
            tokenizer_2=tokenizer,
            unet=unet,
            scheduler=scheduler,
        )
    else:
        pipe = StableDiffusionPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    pipe.to(device=device, dtype=dtype)
    # The name carries the family, so the defaults match the real model's.
    pipe.register_to_config(_name_or_path=f"random-{arch}")
    return pipe

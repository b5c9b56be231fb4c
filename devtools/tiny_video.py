"""A tiny random-weight LTX-Video pipeline (``LTXConditionPipeline``), written to disk.

As ``devtools.tiny_dit`` does for FLUX.1 and SD3, and with its T5 (encoder and tokenizer,
built in code): nothing is downloaded. The transformer and the video VAE are sized as
diffusers' own tests size them (``tests/pipelines/ltx/test_ltx_condition.py``), except that
the VAE compresses as the real one does (32x in space: a 4x4 patch, then three 2x steps; 8x in
time: three 2x steps), so that the tiny model asks what a real checkpoint asks: sides that
are multiples of 32 and 8k+1 frames. Its decoder is timestep-conditioned as the real 0.9.x
VAEs are (``decode_timestep``). Saved with ``save_pretrained``, it loads offline through
``LTXConditionPipeline.from_pretrained`` (or ``DiffusionPipeline.from_pretrained``): the
product's real path (``VIDEO_MODEL=DIR``).
"""

from __future__ import annotations

import json
from pathlib import Path

from devtools.tiny_dit import _T5_HIDDEN, _t5_encoder, build_t5_tokenizer

_LATENT_CHANNELS = 8
_VAE_CHANNELS = (8, 8, 8, 8)


def _transformer():
    """The denoiser: one block of 4 heads of 8, reading T5's width (diffusers' test size)."""
    from diffusers import LTXVideoTransformer3DModel

    return LTXVideoTransformer3DModel(
        in_channels=_LATENT_CHANNELS,
        out_channels=_LATENT_CHANNELS,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=_T5_HIDDEN,
        num_layers=1,
        caption_channels=_T5_HIDDEN,
    )


def _vae():
    """The video VAE: 8 channels a level, one layer a block, the real compression."""
    from diffusers import AutoencoderKLLTXVideo

    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=_LATENT_CHANNELS,
        block_out_channels=_VAE_CHANNELS,
        decoder_block_out_channels=_VAE_CHANNELS,
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=True,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    # Whole clips at once: the tiny clips are a few frames.
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    return vae


def build_tiny_video_pipeline(seed: int = 0):
    """A tiny random-weight ``LTXConditionPipeline``, in memory (weights from ``seed``)."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXConditionPipeline

    tokenizer = build_t5_tokenizer()
    torch.manual_seed(seed)
    transformer = _transformer()
    vae = _vae()
    text_encoder = _t5_encoder(len(tokenizer))
    return LTXConditionPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )


def write_tiny_video_model(folder: Path, seed: int = 0) -> Path:
    """Write a tiny LTX-Video pipeline to ``folder`` with ``save_pretrained``; the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    build_tiny_video_pipeline(seed).save_pretrained(str(folder), safe_serialization=True)
    # Its clips' defaults (engine.clip_jobs.VideoOffer): small and short, for a CPU.
    clip = {"side": 64, "frames": 9, "fps": 8, "steps": 2}
    (folder / "clip.json").write_text(json.dumps(clip), encoding="utf-8")
    return folder

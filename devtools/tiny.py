"""Tiny random-weight diffusers pipelines, written to disk for tests and offline smoke runs.

Nothing can be downloaded here, tokenizers included, so the CLIP-format tokenizer is
learned from a short built-in text. The result is saved with ``save_pretrained`` and
loads through exactly the same path as a real model (``MODEL_ID=DIR``).
"""

from __future__ import annotations

import collections
import itertools
import json
import re
from pathlib import Path
from typing import Literal

Family = Literal["sd", "sdxl"]

# The native pixel size of the tiny models: latent 32x32 with a VAE that downsamples 4x.
TINY_SAMPLE_SIZE = 32
_VAE_CHANNELS = (16, 32, 32)
_TEXT_HIDDEN = 32
_NUM_MERGES = 300

_CORPUS = """
a fox in the snow, a castle on a hill at sunset, portrait of an astronaut riding a horse,
oil painting of a lighthouse in a storm, watercolor of cherry blossoms, cyberpunk city street
at night with neon lights, a cat wearing a hat, studio photo of a red sports car, mountains
and a lake in the morning fog, the quick brown fox jumps over the lazy dog, highly detailed,
cinematic lighting, trending, sharp focus, concept art, illustration, photograph, landscape,
people, blurry, low quality, ugly, text, watermark, dragon, forest, ocean, flowers, robot
"""


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-to-printable-unicode table."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def build_clip_vocab(num_merges: int = _NUM_MERGES) -> tuple[dict[str, int], list[str]]:
    """Learn a small byte-level BPE in CLIP's format: every byte, every byte + ``</w>``, merges."""
    byte_chars = list(_bytes_to_unicode().values())
    vocab_tokens = byte_chars + [c + "</w>" for c in byte_chars]
    byte_map = _bytes_to_unicode()
    words = collections.Counter(re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", _CORPUS.lower()))
    # Each word as a tuple of symbols, the last one carrying the end-of-word marker.
    splits = {}
    for word in words:
        symbols = [byte_map[b] for b in word.encode("utf-8")]
        symbols[-1] += "</w>"
        splits[word] = symbols
    merges: list[str] = []
    for _ in range(num_merges):
        pairs: collections.Counter[tuple[str, str]] = collections.Counter()
        for word, symbols in splits.items():
            for pair in itertools.pairwise(symbols):
                pairs[pair] += words[word]
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(f"{best[0]} {best[1]}")
        vocab_tokens.append(best[0] + best[1])
        for word, symbols in splits.items():
            merged: list[str] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            splits[word] = merged
    vocab_tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(vocab_tokens))}
    return vocab, merges


def write_clip_tokenizer(directory: Path) -> int:
    """Write ``vocab.json`` and ``merges.txt`` to ``directory``; returns the vocabulary size."""
    vocab, merges = build_clip_vocab()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
    )
    return len(vocab)


def _load_tokenizer(directory: Path):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(directory), model_max_length=77)


def _text_config(tokenizer, *, projection_dim: int | None = None):
    from transformers import CLIPTextConfig

    kwargs = {}
    if projection_dim is not None:
        kwargs["projection_dim"] = projection_dim
    return CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id,
        # The real end token id: diffusers' test value (2) switches CLIP to legacy pooling.
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=_TEXT_HIDDEN,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=len(tokenizer),
        max_position_embeddings=77,
        **kwargs,
    )


def tiny_vae(
    channels: tuple[int, ...] = _VAE_CHANNELS,
    latent_channels: int = 4,
    sample_size: int | None = None,
    **extra: object,
):
    """A tiny VAE: one encoder and decoder block per entry of ``channels`` (each but the
    last halves the side); ``extra``: the family's own settings (shift, scale...)."""
    from diffusers import AutoencoderKL

    n = len(channels)
    return AutoencoderKL(
        block_out_channels=list(channels),
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * n,
        up_block_types=["UpDecoderBlock2D"] * n,
        latent_channels=latent_channels,
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=sample_size or TINY_SAMPLE_SIZE * 2 ** (n - 1),
        **extra,
    )


def tiny_unet(family: Family = "sd", *, inpainting: bool = False):
    """The tiny pipeline's UNet (random weights from torch's current seed); ``inpainting``
    (SD only): 9 input channels (latents, mask, masked image)."""
    from diffusers import UNet2DConditionModel

    shared = {
        "block_out_channels": (16, 32),
        "layers_per_block": 1,
        "sample_size": TINY_SAMPLE_SIZE,
        "out_channels": 4,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "norm_num_groups": 8,
    }
    if family == "sd":
        return UNet2DConditionModel(
            in_channels=9 if inpainting else 4,
            cross_attention_dim=_TEXT_HIDDEN,
            attention_head_dim=8,
            **shared,
        )
    if family != "sdxl" or inpainting:
        raise ValueError(f"no tiny UNet for {family!r} (inpainting={inpainting}): 'sd' or 'sdxl'")
    time_embed_dim = 8
    return UNet2DConditionModel(
        in_channels=4,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_embed_dim,
        transformer_layers_per_block=(1, 1),
        # Six time ids of addition_time_embed_dim each, plus the pooled projection.
        projection_class_embeddings_input_dim=6 * time_embed_dim + _TEXT_HIDDEN,
        # Both encoders' hidden states are concatenated.
        cross_attention_dim=2 * _TEXT_HIDDEN,
        **shared,
    )


def build_tiny_pipeline(
    family: Family = "sd",
    *,
    seed: int = 0,
    workdir: Path | None = None,
    inpainting: bool = False,
):
    """Build a tiny random-weight text-to-image pipeline of the given family (in memory);
    ``inpainting`` (SD only): a dedicated inpainting checkpoint instead, whose UNet takes
    9 channels (latents, mask, masked image), saved as an inpainting pipeline."""
    import tempfile

    import torch
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        write_clip_tokenizer(Path(tmp))
        tokenizer = _load_tokenizer(Path(tmp))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )
    if inpainting and family != "sd":
        raise ValueError("a tiny inpainting checkpoint is SD only")
    if family == "sd":
        unet = tiny_unet("sd", inpainting=inpainting)
        text_encoder = CLIPTextModel(_text_config(tokenizer))
        pipeline_class = StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline
        return pipeline_class(
            unet=unet,
            scheduler=scheduler,
            vae=tiny_vae(),
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    if family == "sdxl":
        unet = tiny_unet("sdxl")
        text_encoder = CLIPTextModel(_text_config(tokenizer))
        text_encoder_2 = CLIPTextModelWithProjection(
            _text_config(tokenizer, projection_dim=_TEXT_HIDDEN)
        )
        return StableDiffusionXLPipeline(
            unet=unet,
            scheduler=scheduler,
            vae=tiny_vae(),
            text_encoder=text_encoder,
            text_encoder_2=text_encoder_2,
            tokenizer=tokenizer,
            tokenizer_2=tokenizer,
            force_zeros_for_empty_prompt=True,
        )
    raise ValueError(f"unknown family {family!r}: use 'sd' or 'sdxl'")


def write_tiny_model(
    directory: Path | str, family: Family = "sd", *, seed: int = 0, inpainting: bool = False
) -> Path:
    """Write a tiny random-weight pipeline to ``directory`` with ``save_pretrained``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pipe = build_tiny_pipeline(family, seed=seed, workdir=directory, inpainting=inpainting)
    pipe.save_pretrained(str(directory), safe_serialization=True)
    return directory


def write_tiny_classifier(
    directory, *, seed: int = 0, labels: tuple[str, ...] = ("normal", "nsfw")
):
    """A tiny random-weight ViT classifier saved with save_pretrained, for tests and
    offline runs of the filter."""
    from pathlib import Path

    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    directory = Path(directory)
    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    ViTForImageClassification(config).save_pretrained(directory)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(directory)
    return directory

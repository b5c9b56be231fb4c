"""Tiny random IP-Adapters for the tiny SD and SDXL pipelines (``devtools.tiny``).

Written in the layout of ``h94/IP-Adapter`` as diffusers' ``load_ip_adapter`` reads it, so
that a folder made here stands for the hub repository (``IP_ADAPTER_SD=DIR``):

```
models/image_encoder/                              a CLIPVisionModelWithProjection
models/ip-adapter_sd15.safetensors                 SD 1.5: the plain adapter
models/ip-adapter-plus_sd15.safetensors            SD 1.5: the Plus adapter (the Resampler)
sdxl_models/ip-adapter_sdxl_vit-h.safetensors      SDXL, both on models/image_encoder
sdxl_models/ip-adapter-plus_sdxl_vit-h.safetensors
```

The state dicts are made as diffusers' own tests make theirs
(``create_ip_adapter_state_dict`` and ``create_ip_adapter_plus_state_dict`` in
``tests/models/unets/test_models_unet_2d_condition.py``): the diffusers modules built from
the UNet's widths, their tensors renamed to the original IP-Adapter's names (which the
loader converts back), saved with the ``image_proj.`` and ``ip_adapter.`` prefixes the
loader splits a ``.safetensors`` file by. Nothing is downloaded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from engine.references import ADAPTER_FILES, IMAGE_ENCODER_FOLDER

_VISION_HIDDEN = 32  # the image encoder's width: what the Plus Resampler reads
_IMAGE_EMBEDS = 32  # its projection: what the plain adapter's image_proj reads
_IMAGE_SIZE = 32
_TOKENS = 4  # image tokens each adapter adds to the cross-attention
_RESAMPLER_DEPTH = 4  # the loader builds the Resampler with its default depth
_RESAMPLER_HEAD = 64  # the loader reads the heads as to_q's rows // 64


def write_tiny_image_encoder(folder: Path | str, seed: int = 0) -> Path:
    """Write the tiny CLIP image encoder to ``folder/models/image_encoder`` (once: an
    encoder already there is kept, as both families share it); returns its folder."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    target = Path(folder) / IMAGE_ENCODER_FOLDER
    if (target / "config.json").is_file():
        return target
    torch.manual_seed(seed)
    config = CLIPVisionConfig(
        hidden_size=_VISION_HIDDEN,
        intermediate_size=37,
        projection_dim=_IMAGE_EMBEDS,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=_IMAGE_SIZE,
        patch_size=8,
        num_channels=3,
    )
    CLIPVisionModelWithProjection(config).save_pretrained(target)
    return target


def write_tiny_ip_adapter(folder: Path | str, pipeline_or_unet: Any, family: str, seed: int = 0):
    """Write the plain and Plus adapters of ``family`` (``sd`` or ``sdxl``) for
    ``pipeline_or_unet``'s UNet (its widths), and the shared image encoder, into
    ``folder`` laid out as h94/IP-Adapter; returns ``folder``."""
    import torch
    from safetensors.torch import save_file

    if family not in ADAPTER_FILES:
        raise ValueError(f"a tiny IP-Adapter is for sd or sdxl (got {family!r})")
    folder = Path(folder)
    unet = getattr(pipeline_or_unet, "unet", pipeline_or_unet)
    write_tiny_image_encoder(folder, seed)
    subfolder, plain_name, plus_name = ADAPTER_FILES[family]
    (folder / subfolder).mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed + 1)
    for name, image_proj in (
        (plain_name, _plain_image_proj(unet)),
        (plus_name, _plus_image_proj(unet)),
    ):
        tensors = {f"image_proj.{key}": value for key, value in image_proj.items()}
        tensors.update({f"ip_adapter.{key}": value for key, value in _ip_layers(unet).items()})
        save_file(
            {key: value.contiguous() for key, value in tensors.items()}, folder / subfolder / name
        )
    return folder


def _ip_layers(unet: Any) -> dict[str, Any]:
    """``{key_id}.to_k_ip.weight`` and ``.to_v_ip.weight`` of each cross-attention, numbered
    1, 3, 5... in the UNet's processor order, as the loader reads them."""
    from diffusers.models.attention_processor import IPAdapterAttnProcessor

    layers = {}
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue  # self-attention: no image tokens
        processor = IPAdapterAttnProcessor(
            hidden_size=_hidden_size(unet, name),
            cross_attention_dim=unet.config.cross_attention_dim,
            scale=1.0,
        )
        weights = processor.state_dict()
        layers[f"{key_id}.to_k_ip.weight"] = weights["to_k_ip.0.weight"]
        layers[f"{key_id}.to_v_ip.weight"] = weights["to_v_ip.0.weight"]
        key_id += 2
    return layers


def _hidden_size(unet: Any, name: str) -> int:
    channels = list(unet.config.block_out_channels)
    if name.startswith("mid_block"):
        return channels[-1]
    block = int(name.split(".")[1])
    return list(reversed(channels))[block] if name.startswith("up_blocks") else channels[block]


def _plain_image_proj(unet: Any) -> dict[str, Any]:
    """The plain adapter's projection: the image embedding to four text-width tokens."""
    from diffusers.models.embeddings import ImageProjection

    projection = ImageProjection(
        cross_attention_dim=unet.config.cross_attention_dim,
        image_embed_dim=_IMAGE_EMBEDS,
        num_image_text_embeds=_TOKENS,
    ).state_dict()
    return {key.replace("image_embeds", "proj"): value for key, value in projection.items()}


def _plus_image_proj(unet: Any) -> dict[str, Any]:
    """The Plus adapter's Resampler over the encoder's hidden states, in the original
    names (``layers.N.0`` its attention, ``layers.N.1`` its feed-forward; keys and values
    as one ``to_kv``)."""
    import torch
    from diffusers.models.embeddings import IPAdapterPlusImageProjection

    resampler = IPAdapterPlusImageProjection(
        embed_dims=_VISION_HIDDEN,
        output_dims=unet.config.cross_attention_dim,
        hidden_dims=_VISION_HIDDEN,
        depth=_RESAMPLER_DEPTH,
        dim_head=_RESAMPLER_HEAD,
        heads=1,
        num_queries=_TOKENS,
    ).state_dict()
    renames = [
        (r"^layers\.(\d+)\.ln0\.", r"layers.\1.0.norm1."),
        (r"^layers\.(\d+)\.ln1\.", r"layers.\1.0.norm2."),
        (r"^layers\.(\d+)\.attn\.to_q\.", r"layers.\1.0.to_q."),
        (r"^layers\.(\d+)\.attn\.to_out\.0\.", r"layers.\1.0.to_out."),
        (r"^layers\.(\d+)\.ff\.0\.", r"layers.\1.1.0."),
        (r"^layers\.(\d+)\.ff\.1\.net\.0\.proj\.", r"layers.\1.1.1."),
        (r"^layers\.(\d+)\.ff\.1\.net\.2\.", r"layers.\1.1.3."),
    ]
    original = {}
    for key, value in resampler.items():
        if ".attn.to_k." in key or ".attn.to_v." in key:
            continue  # joined below
        for pattern, replacement in renames:
            key = re.sub(pattern, replacement, key)
        original[key] = value
    for layer in range(_RESAMPLER_DEPTH):
        keys, values = (resampler[f"layers.{layer}.attn.{p}.weight"] for p in ("to_k", "to_v"))
        original[f"layers.{layer}.0.to_kv.weight"] = torch.cat([keys, values], dim=0)
    return original

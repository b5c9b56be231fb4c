"""Tiny random LoRAs for the tiny pipelines (``devtools.tiny``, ``devtools.tiny_dit``).

Made as diffusers' own LoRA tests make theirs (``tests/lora/utils.py``): a PEFT
``LoraConfig`` added to the family's UNet or transformer (built alone, from the same
config as the tiny pipeline's: no text encoders, no tokenizer), its ``lora_B`` weights
random rather than zero so that the LoRA changes the image, saved with the pipeline
class's ``save_lora_weights`` in the diffusers format its ``load_lora_weights`` reads. The
file says which family it is for in its metadata (``imaginebot.family``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from engine.loras import FAMILY_METADATA_KEY, LORA_FAMILIES

# The attention projections every family's denoiser names alike (diffusers' tests target these).
_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
_RANK = 4


def _pipeline_class(family: str):
    from diffusers import (
        FluxPipeline,
        StableDiffusion3Pipeline,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        ZImagePipeline,
    )

    return {
        "sd": StableDiffusionPipeline,
        "sdxl": StableDiffusionXLPipeline,
        "flux": FluxPipeline,
        "sd3": StableDiffusion3Pipeline,
        "z-image": ZImagePipeline,
    }[family]


def _denoiser(family: str):
    """The tiny pipeline's UNet or transformer of ``family``, alone."""
    if family in ("sd", "sdxl"):
        from devtools.tiny import tiny_unet

        return tiny_unet(family)  # type: ignore[arg-type]
    from devtools.tiny_dit import tiny_transformer

    return tiny_transformer(family)  # type: ignore[arg-type]


def write_tiny_lora(path: Path | str, family: str, seed: int = 0) -> Path:
    """Write a tiny random LoRA for the tiny ``family`` model to ``path`` (a ``.safetensors``
    file, or ``DIR/tiny-<family>.safetensors`` when ``path`` is a folder); returns the file."""
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from safetensors import safe_open
    from safetensors.torch import save_file

    if family not in LORA_FAMILIES:
        raise ValueError(f"family must be one of {', '.join(LORA_FAMILIES)} (got {family!r})")
    path = Path(path)
    if path.is_dir():
        path = path / f"tiny-{family}.safetensors"
    if path.suffix != ".safetensors":
        raise ValueError(f"a LoRA file ends in .safetensors (got {path.name!r})")
    path.parent.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(seed)
    denoiser = _denoiser(family)
    # init_lora_weights=False: lora_B random too (PEFT's default zeroes it: no change at all).
    config = LoraConfig(r=_RANK, lora_alpha=_RANK, target_modules=_TARGETS, init_lora_weights=False)
    denoiser.add_adapter(config)
    layers = get_peft_model_state_dict(denoiser)
    component = "unet" if family in ("sd", "sdxl") else "transformer"
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        _pipeline_class(family).save_lora_weights(
            tmp,
            weight_name="lora.safetensors",
            safe_serialization=True,
            **{
                f"{component}_lora_layers": layers,
                f"{component}_lora_adapter_metadata": config.to_dict(),
            },
        )
        # Re-written with our family added to diffusers' own metadata (its adapter config).
        written = Path(tmp) / "lora.safetensors"
        with safe_open(str(written), framework="pt") as saved:
            metadata = dict(saved.metadata() or {})
            tensors = {key: saved.get_tensor(key) for key in saved.keys()}  # noqa: SIM118
    metadata[FAMILY_METADATA_KEY] = family
    save_file(tensors, str(path), metadata=metadata)
    return path

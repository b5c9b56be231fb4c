"""Loading one model: hub id, local diffusers folder or single ``.safetensors`` file."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.loading import LOADING, fetched

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FamilyDefaults:
    """Per model family: sampler steps, guidance scale and native pixel size."""

    family: str
    steps: int
    guidance: float
    native_size: int
    negative: bool = True  # takes a negative prompt (FLUX.1 does not: no CFG pass)
    # --tile: circular padding makes seamless images where a UNet's convolutions see the
    # whole image; a diffusion transformer's attention does not wrap around.
    tile: bool = True
    # T5 tokens a prompt is padded to (FLUX.1, SD3: ``max_sequence_length``); 0: the
    # pipeline's own. Every image of the model gets the same, fused or alone.
    text_tokens: int = 0
    # --chaos: low-frequency structure mixed into the starting noise of a UNet's latents
    # (engine.chaos); a diffusion transformer's packed latents are refused.
    chaos: bool = True

    def call_arguments(self) -> dict[str, int]:
        """What every pipeline call of the family is given beyond the job's own (the
        worker's calls and the benchmark's bare ones alike)."""
        return {"max_sequence_length": self.text_tokens} if self.text_tokens else {}


TURBO = FamilyDefaults("turbo", steps=4, guidance=0.0, native_size=512)
# Diffusion transformers, as their model cards run them: FLUX.1 [dev] is guidance-distilled
# (the guidance is an input, no second pass), [schnell] is timestep-distilled (4 steps, no
# guidance); SD3/3.5 runs classic CFG with a negative prompt.
# The T5 sequence as the reference code runs it: [dev] 512 tokens, [schnell] 256 (BFL's
# flux repo; diffusers pads both to 512), SD3 256; never past the T5 tokenizer's own limit.
FLUX_DEV = FamilyDefaults(
    "flux", 28, 3.5, 1024, negative=False, tile=False, text_tokens=512, chaos=False
)
FLUX_SCHNELL = FamilyDefaults(
    "flux-schnell", 4, 0.0, 1024, negative=False, tile=False, text_tokens=256, chaos=False
)
SD3 = FamilyDefaults("sd3", 28, 4.5, 1024, tile=False, text_tokens=256, chaos=False)
# Z-Image-Turbo: 9 scheduler steps (8 transformer passes) and no guidance, as its card.
Z_IMAGE = FamilyDefaults("z-image", 9, 0.0, 1024, tile=False, chaos=False)
SDXL = FamilyDefaults("sdxl", steps=30, guidance=6.0, native_size=1024)
SD = FamilyDefaults("sd", steps=25, guidance=7.0, native_size=512)

_TURBO_MARKERS = ("turbo", "lightning", "hyper-sd", "lcm")


@dataclass
class LoadedModel:
    """A loaded text-to-image pipeline, its image-to-image and inpainting twins (sharing
    its components: no second model in memory) and what we know of it."""

    name: str
    text2img: Any
    img2img: Any
    device: str
    dtype: Any
    defaults: FamilyDefaults
    inpaint: Any = None  # the inpainting twin (zoom, pan, vary a region), same components
    # The LoRAs loaded into it, by name, least recently used first (engine.loras).
    adapters: dict[str, None] = field(default_factory=dict)
    # The LoRAs (name, weight) its last call ran with; None: not known (a call failed).
    active_loras: tuple[tuple[str, float], ...] | None = ()
    # Its IP-Adapters once a call had image references (engine.references.IpAdapters).
    ip_adapter: Any = None

    @property
    def sampler(self) -> str:
        """The scheduler's class name, as recipes name the sampler."""
        return type(self.text2img.scheduler).__name__

    @property
    def masked_input(self) -> bool:
        """A dedicated inpainting checkpoint (a 9-channel UNet: latents, mask and masked
        image): every job runs through ``inpaint``, text-to-image and image-to-image as a
        mask over the whole image."""
        unet = getattr(self.text2img, "unet", None)
        return getattr(getattr(unet, "config", None), "in_channels", 4) == 9


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """What the core reads of a model that need not be in memory (an
    ``engine.protocols.Model``): a model a worker swapped out, or one on the replicas."""

    name: str
    device: str
    defaults: FamilyDefaults
    sampler: str
    memory: int = 0  # bytes of its weights, as loaded (0: not known)

    @classmethod
    def of(cls, model: LoadedModel, memory: int | None = None) -> ModelSummary:
        """A loaded model's summary, with the bytes of its weights (measured if not
        given)."""
        size = model_bytes(model) if memory is None else memory
        return cls(model.name, model.device, model.defaults, model.sampler, size)


def model_bytes(model: LoadedModel) -> int:
    """Bytes of a loaded pipeline's weights (parameters and buffers of each component):
    what keeping it resident costs, the activations of a call aside."""
    seen: set[int] = set()
    total = 0
    for component in getattr(model.text2img, "components", {}).values():
        for tensor in _tensors(component):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
    return total


def _tensors(component: Any) -> list:
    parameters = getattr(component, "parameters", None)
    buffers = getattr(component, "buffers", None)
    if not (callable(parameters) and callable(buffers)):
        return []  # a tokenizer, a scheduler, a config
    return [*parameters(), *buffers()]


def name_of(source: str) -> str:
    """A model's name as jobs store it: a local folder's or file's name, else the hub id."""
    path = Path(source).expanduser()
    return path.name if path.exists() else source


def pick_device(setting: str = "auto") -> str:
    """``auto`` means CUDA, then MPS, then CPU; anything else is used as given."""
    import torch

    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


# Pipelines whose weights are bfloat16 and overflow in float16 (FLUX.1's and SD3's T5 and
# transformer): bfloat16 on accelerators, as their model cards run them.
_BFLOAT16_PIPELINES = ("Flux", "StableDiffusion3", "ZImage")


def pick_dtype(device: str, pipeline_class: str = ""):
    """Half precision on accelerators (bfloat16 for the diffusion transformers named by
    ``pipeline_class``, float16 for the rest), full precision on the CPU."""
    import torch

    if not device.startswith(("cuda", "mps")):
        return torch.float32
    return torch.bfloat16 if pipeline_class.startswith(_BFLOAT16_PIPELINES) else torch.float16


def detect_family(pipe: Any, model_id: str) -> FamilyDefaults:
    """Family defaults from the loaded pipeline: SDXL or SD, and whether it is a turbo model.

    The native size is the UNet's sample size times the VAE's scale factor when the
    pipeline says so (SD 2.1 is 768, a tiny test model 128); otherwise the family's.
    """
    kind = type(pipe).__name__
    if kind.startswith(("Flux", "StableDiffusion3", "ZImage")):
        return _transformer_family(pipe)
    is_xl = "XL" in kind or getattr(pipe, "text_encoder_2", None) is not None
    base = SDXL if is_xl else SD
    name = (model_id + " " + str(getattr(pipe.config, "_name_or_path", ""))).lower()
    scheduler_name = type(pipe.scheduler).__name__
    is_turbo = any(marker in name for marker in _TURBO_MARKERS) or scheduler_name == "LCMScheduler"
    native = base.native_size
    unet = getattr(pipe, "unet", None)
    sample_size = getattr(getattr(unet, "config", None), "sample_size", None)
    scale = getattr(pipe, "vae_scale_factor", None)
    if isinstance(sample_size, int) and isinstance(scale, int) and not is_turbo:
        native = sample_size * scale
    if is_turbo:
        return FamilyDefaults(
            f"{base.family}-turbo", TURBO.steps, TURBO.guidance, TURBO.native_size
        )
    return FamilyDefaults(base.family, base.steps, base.guidance, native)


def _transformer_family(pipe: Any) -> FamilyDefaults:
    """FLUX.1 ([schnell]: no guidance embedding), SD3 or Z-Image; the native size is the
    pipeline's default (its default sample size times the VAE's scale, or Z-Image's VAE's
    sample size: 1024 for the real ones)."""
    import dataclasses

    kind = type(pipe).__name__
    if kind.startswith("Flux"):
        guided = getattr(pipe.transformer.config, "guidance_embeds", False)
        base = FLUX_DEV if guided else FLUX_SCHNELL
    else:
        base = Z_IMAGE if kind.startswith("ZImage") else SD3
    t5 = getattr(pipe, "tokenizer_3" if base is SD3 else "tokenizer_2", None)
    limit = getattr(t5, "model_max_length", None)
    if base.text_tokens and isinstance(limit, int) and limit < base.text_tokens:
        base = dataclasses.replace(base, text_tokens=limit)  # a T5 that reads fewer
    sample = getattr(pipe, "default_sample_size", None)
    scale = getattr(pipe, "vae_scale_factor", None)
    if isinstance(sample, int) and isinstance(scale, int):
        return dataclasses.replace(base, native_size=sample * scale)
    side = getattr(getattr(getattr(pipe, "vae", None), "config", None), "sample_size", None)
    return dataclasses.replace(base, native_size=side) if isinstance(side, int) else base


def single_file_pipeline_class(path: Path):
    """The pipeline class for a single-file checkpoint, read from its tensor names (as
    diffusers' own single-file loader tells them: FLUX.1's double blocks, SD3's joint
    blocks, SDXL's second text encoder); diffusers fetches the rest of a FLUX.1 or SD3
    pipeline (its configs, and the text encoders a transformer-only file lacks)."""
    from diffusers import (
        FluxPipeline,
        StableDiffusion3Pipeline,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
    )
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as checkpoint:
        keys = checkpoint.keys()
    blocks = {key.removeprefix("model.diffusion_model.").split(".", 1)[0] for key in keys}
    if "double_blocks" in blocks:
        return FluxPipeline
    if "joint_blocks" in blocks:
        return StableDiffusion3Pipeline
    if any(key.startswith("conditioner.embedders.1") for key in keys):
        return StableDiffusionXLPipeline
    return StableDiffusionPipeline


def _pipeline_class(model_id: str, path: Path) -> str:
    """The pipeline class a model folder or hub id names in its ``model_index.json`` (read
    before the weights, to pick their dtype); a single file's from its tensor names."""
    if path.suffix in {".safetensors", ".ckpt"}:
        return single_file_pipeline_class(path).__name__ if path.suffix == ".safetensors" else ""
    from diffusers import DiffusionPipeline

    source = str(path) if path.is_dir() else model_id
    try:
        return str(DiffusionPipeline.load_config(source).get("_class_name", ""))
    except Exception:  # the load that follows says what is wrong, in full
        return ""


def load_model(model_id: str, device_setting: str = "auto", *, place: bool = True) -> LoadedModel:
    """Load ``model_id`` once for the chosen device, with its image-to-image twin;
    ``place=False`` leaves its weights in CPU memory (in the device's dtype), for the
    caller to measure and make room before moving them (``engine.resident``)."""
    from diffusers import AutoPipelineForText2Image

    device = pick_device(device_setting)
    path = Path(model_id).expanduser()
    dtype = pick_dtype(device, _pipeline_class(model_id, path))
    logger.info("loading model %s on %s (%s)", model_id, device, dtype)
    if path.suffix in {".safetensors", ".ckpt"}:
        if not path.is_file():
            raise FileNotFoundError(f"MODEL_ID file not found: {path}")
        pipeline_class = single_file_pipeline_class(path) if path.suffix == ".safetensors" else None
        if pipeline_class is None:
            from diffusers import StableDiffusionPipeline as pipeline_class
        with LOADING:  # never beside another thread's load (engine.loading)
            text2img = pipeline_class.from_single_file(str(path), dtype=dtype)
    else:
        source = fetched(str(path) if path.is_dir() else model_id)  # outside the lock
        with LOADING:
            text2img = AutoPipelineForText2Image.from_pretrained(source, dtype=dtype)
    return wrap_pipeline(text2img, name_of(model_id), device, model_id=model_id, place=place)


def wrap_pipeline(
    text2img: Any, name: str, device: str, *, model_id: str = "", place: bool = True
) -> LoadedModel:
    """Put a loaded text-to-image pipeline on ``device`` (not yet when ``place`` is
    False) and derive what the engine needs."""
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

    if getattr(text2img, "safety_checker", None) is not None:
        # Moderation is the bot's job (NSFW_FILTER), not a black image from the pipeline.
        text2img.safety_checker = None
    if place:
        text2img.to(device)
    text2img.set_progress_bar_config(disable=True)
    img2img = AutoPipelineForImage2Image.from_pipe(text2img)
    img2img.set_progress_bar_config(disable=True)
    # A 4-channel UNet paints through the latent mask; a 9-channel inpainting
    # checkpoint takes the masked image as input: from_pipe picks the class for either.
    inpaint = AutoPipelineForInpainting.from_pipe(text2img)
    inpaint.set_progress_bar_config(disable=True)
    defaults = detect_family(text2img, model_id or name)
    logger.info(
        "model %s ready: family %s, %d steps, guidance %.1f, native %dpx",
        name,
        defaults.family,
        defaults.steps,
        defaults.guidance,
        defaults.native_size,
    )
    return LoadedModel(name, text2img, img2img, device, text2img.dtype, defaults, inpaint)

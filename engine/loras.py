"""LoRAs: which base family a ``.safetensors`` LoRA was trained for (from its header only),
the folder of them the bot offers, and switching them on a pipeline before a call.

Every family the bot runs takes LoRAs through diffusers' own loaders (0.42): SD 1.x
(``StableDiffusionLoraLoaderMixin``), SDXL, FLUX.1, SD3 and Z-Image (``ZImageLoraLoaderMixin``,
transformer only). A LoRA is loaded once per pipeline, into the text-to-image pipeline's
UNet or transformer (and text encoders where the file has them); the image-to-image and
inpainting twins made with ``from_pipe`` share those modules, so they see it too.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.loading import LOADING

logger = logging.getLogger(__name__)

LORA_FAMILIES = ("sd", "sdxl", "flux", "sd3", "z-image")
# Our own tag (devtools.tiny_lora writes it); kohya's sd-scripts and the SAI model spec
# state the base model in theirs.
FAMILY_METADATA_KEY = "imaginebot.family"
_BASE_METADATA_KEYS = ("ss_base_model_version", "modelspec.architecture")
MAX_LORA_FILES = 1000
MAX_ADAPTERS = 8  # LoRAs kept loaded in one pipeline (use_loras)
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SUFFIX = ".safetensors"

# A model family (engine.model's FamilyDefaults.family) -> the LoRA family it takes.
_MODEL_FAMILIES = {
    "sd": "sd",
    "sd-turbo": "sd",
    "sdxl": "sdxl",
    "sdxl-turbo": "sdxl",
    "flux": "flux",
    "flux-schnell": "flux",
    "sd3": "sd3",
    "z-image": "z-image",
}

# The diffusers LoRA loader a pipeline class inherits -> the family of LoRA it reads.
_LOADERS = {
    "StableDiffusionLoraLoaderMixin": "sd",
    "StableDiffusionXLLoraLoaderMixin": "sdxl",
    "FluxLoraLoaderMixin": "flux",
    "SD3LoraLoaderMixin": "sd3",
    "ZImageLoraLoaderMixin": "z-image",
}


class LoraError(ValueError):
    """A LoRA cannot be used on this pipeline (another family, no loader, a bad file)."""


@dataclass(frozen=True)
class LoraFile:
    """A LoRA the bot offers: the name members type (``--lora NAME``), its file, its family."""

    name: str
    path: Path
    family: str


def base_family(model_family: str) -> str:
    """The LoRA family a model family takes (``"sdxl-turbo"`` -> ``"sdxl"``)."""
    try:
        return _MODEL_FAMILIES[model_family]
    except KeyError:
        raise ValueError(f"unknown model family {model_family!r}") from None


def lora_family(path: Path) -> str | None:
    """The base family a ``.safetensors`` LoRA was trained for, from its header alone
    (metadata first, then tensor names and shapes); None when it cannot be told or the
    header cannot be read."""
    try:
        metadata, shapes = _read_header(path)
    except (OSError, ValueError) as exc:
        logger.debug("cannot read the header of %s: %s", path, exc)
        return None
    return _family_from_header(metadata, shapes)


def scan_lora_dir(folder: Path | None) -> dict[str, LoraFile]:
    """Every ``*.safetensors`` LoRA directly in ``folder`` by name (its stem), sorted; files
    with a name members cannot type, or whose family cannot be told, are left out with a
    warning. ``None``: no LoRAs. A missing folder is a ``ValueError``."""
    if folder is None:
        return {}
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValueError(f"the LoRA folder {str(folder)!r} does not exist or is not a folder")
    with os.scandir(folder) as entries:  # names only: cheap however many files there are
        names = sorted(entry.name for entry in entries if entry.name.endswith(_SUFFIX))
    if len(names) > MAX_LORA_FILES:
        logger.warning(
            "%d LoRA files in %s: only the first %d by name are read",
            len(names),
            folder,
            MAX_LORA_FILES,
        )
        names = names[:MAX_LORA_FILES]
    found: dict[str, LoraFile] = {}
    for file_name in names:
        path = folder / file_name
        lora = _scan_one(path, file_name[: -len(_SUFFIX)])
        if lora is not None:
            found[lora.name] = lora
    return found


def _scan_one(path: Path, name: str) -> LoraFile | None:
    if not _NAME.fullmatch(name) or name.startswith((".", "-")):
        logger.warning(
            "LoRA %s left out: a name is 1-64 letters, digits, '_', '-' or '.' "
            "(not first '-' or '.')",
            path.name,
        )
        return None
    if not path.is_file():
        logger.warning("LoRA %s left out: not a file", path.name)
        return None
    try:
        metadata, shapes = _read_header(path)
    except (OSError, ValueError) as exc:
        logger.warning("LoRA %s left out: its header cannot be read (%s)", path.name, exc)
        return None
    family = _family_from_header(metadata, shapes)
    if family is None:
        logger.warning("LoRA %s left out: the model family it is for cannot be told", path.name)
        return None
    return LoraFile(name, path, family)


def takes_loras(pipe: Any) -> bool:
    """Whether ``pipe`` has a diffusers LoRA loader of a family we know (all five do)."""
    return _loader_family(pipe) is not None


def use_loras(
    pipe: Any,
    uses: Sequence[tuple[LoraFile, float]],
    loaded: dict[str, None],
    keep: int = MAX_ADAPTERS,
) -> None:
    """Make exactly ``uses`` (LoRA, weight) active on ``pipe`` before a call, on the thread
    that runs it: each LoRA not in ``loaded`` (the names loaded, least recently used
    first) is loaded once; past ``keep`` loaded, the least recently used one not in use
    is deleted first, so that the memory LoRAs take stays bounded whatever members name.
    None: every loaded LoRA is off, and the output is the pipeline's own. ``LoraError``
    when one cannot be used."""
    if not uses:
        if loaded:
            pipe.disable_lora()  # the base layers alone: the same output as before any load
        return
    family = _loader_family(pipe)
    if family is None:
        raise LoraError(f"{type(pipe).__name__} takes no LoRAs")
    names = [lora.name for lora, _ in uses]
    if len(set(names)) != len(names):
        raise LoraError(f"a LoRA is named twice: {', '.join(names)}")
    for lora, weight in uses:
        if not math.isfinite(weight):
            raise LoraError(f"LoRA {lora.name!r}: its weight must be a number (got {weight})")
        if lora.family != family:
            raise LoraError(f"LoRA {lora.name!r} is for {lora.family} models, this one is {family}")
    for lora, _ in uses:
        if lora.name in loaded:
            del loaded[lora.name]  # used now: the most recent
        else:
            over = max(0, len(loaded) + 1 - keep)  # past ``keep`` with this one in
            for old in [name for name in loaded if name not in names][:over]:
                pipe.delete_adapters(adapter_name(old))
                del loaded[old]
            _load(pipe, lora)
        loaded[lora.name] = None
    pipe.enable_lora()
    pipe.set_adapters(
        [adapter_name(name) for name in names],
        adapter_weights=[float(weight) for _, weight in uses],
    )


def adapter_name(name: str) -> str:
    """The adapter name a LoRA has inside the pipeline: its own, with '~' for '.' (PEFT's
    adapters are torch module names, which cannot hold a dot; '~' is in no LoRA's name)."""
    return name.replace(".", "~")


def _load(pipe: Any, lora: LoraFile) -> None:
    adapter = adapter_name(lora.name)
    try:
        with LOADING:  # never beside another thread's load (engine.loading)
            pipe.load_lora_weights(
                str(lora.path.parent), weight_name=lora.path.name, adapter_name=adapter
            )
    except Exception as exc:
        # A half-loaded adapter would be picked up by a later set_adapters: take it out.
        if any(adapter in names for names in pipe.get_list_adapters().values()):
            pipe.delete_adapters(adapter)
        raise LoraError(f"LoRA {lora.name!r} ({lora.path.name}) cannot be loaded: {exc}") from exc


def _loader_family(pipe: Any) -> str | None:
    for klass in type(pipe).__mro__:
        family = _LOADERS.get(klass.__name__)
        if family is not None:
            return family
    return None


# ---- the header: metadata, tensor names and shapes, never the tensors


def _read_header(path: Path) -> tuple[dict[str, str], dict[str, list[int]]]:
    """The metadata and every tensor's shape, read from the header (``ValueError`` or
    ``OSError`` when it is not a safetensors file)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as header:
            metadata = dict(header.metadata() or {})
            shapes = {key: list(header.get_slice(key).get_shape()) for key in header.keys()}  # noqa: SIM118
    except SafetensorError as exc:
        raise ValueError(str(exc)) from None
    return metadata, shapes


def _family_from_header(metadata: dict[str, str], shapes: dict[str, list[int]]) -> str | None:
    ours = metadata.get(FAMILY_METADATA_KEY)
    if ours in LORA_FAMILIES:
        return ours
    stated = [metadata[key] for key in _BASE_METADATA_KEYS if metadata.get(key, "").strip()]
    for base in stated:
        family = _family_from_base_name(base)
        if family is not None:
            return family
    # A base named, but not one of ours (FLUX.2, Chroma, SD 2.x...): not for us, whatever
    # its tensor names look like (FLUX.2's are FLUX.1's).
    return None if stated else _family_from_keys(shapes)


def _family_from_base_name(stated: str) -> str | None:
    """kohya's ``ss_base_model_version`` (``sd_v1``, ``sdxl_base_v1-0``, ``flux1``, ``sd3``...)
    or the SAI spec's ``modelspec.architecture`` (``stable-diffusion-xl-v1-base/lora``)."""
    text = re.sub(r"[^a-z0-9]", "", stated.lower())
    text = text.replace("stablediffusion", "sd")
    if text.startswith("zimage"):
        return "z-image"
    if text.startswith("flux1"):
        return "flux"
    if text.startswith("sdxl"):
        return "sdxl"
    if text.startswith(("sd3", "sdv3")):
        return "sd3"
    if text.startswith(("sdv1", "sd1")):
        return "sd"
    return None


_SGM_UNET = re.compile(r"(input_blocks|output_blocks|middle_block)_\d")
_LATER_TRANSFORMER = re.compile(r"(down_blocks|up_blocks|mid_block)_\d.*transformer_blocks_[1-9]")
_Z_IMAGE = ("noise_refiner", "context_refiner", "feed_forward_w", "adaln_modulation")
_FLUX = ("double_blocks", "single_blocks", "single_transformer_blocks")
_CONTEXT = ("add_q_proj", "add_k_proj", "to_add_out", "ff_context", "context_block")
_FLUX_WIDTH = 3072  # FLUX.1's inner width; SD3's is 1536 (medium) or 2432 (3.5 large)
_SD_CROSS_WIDTH = 768  # CLIP-L's, the text width SD 1.x cross-attends to
_SDXL_CROSS_WIDTH = 2048  # CLIP-L and bigG concatenated


def _family_from_keys(shapes: dict[str, list[int]]) -> str | None:
    """The family from the tensor names of diffusers/PEFT, kohya and original-format LoRAs
    (and a few shapes where names are shared: FLUX.1 and SD3's joint blocks, SD and SDXL)."""
    keys = [key.lower().replace(".", "_") for key in shapes]
    joined = "\n".join(keys)
    if any(mark in joined for mark in _FLUX):
        return "flux"
    if "joint_blocks" in joined:
        return "sd3"
    if any(mark in joined for mark in _Z_IMAGE) or re.search(r"layers_\d+_attention_", joined):
        return "z-image"
    if re.search(r"(^|\n)(transformer|lora_transformer)_transformer_blocks_", joined):
        width = _input_width(shapes, ("attn.to_q.lora_a", "attn_to_q.lora_down"))
        if width == _FLUX_WIDTH:
            return "flux"
        return "sd3" if any(mark in joined for mark in _CONTEXT) or width else None
    if any(mark in joined for mark in ("lora_te1_", "lora_te2_", "text_encoder_2_")):
        return "sdxl"
    if not re.search(r"(^|\n)(unet_|lora_unet_|lora_te_|text_encoder_)", joined):
        return None
    width = _input_width(shapes, ("attn2.to_k.lora_a", "attn2_to_k.lora_down"))
    if width == _SDXL_CROSS_WIDTH:
        return "sdxl"
    if width == _SD_CROSS_WIDTH:
        return "sd"
    if width is not None:  # SD 2.x (1024) or another text width: not a family we run
        return None
    if _SGM_UNET.search(joined) or _LATER_TRANSFORMER.search(joined):
        return "sdxl"  # SDXL's original block names; its deeper blocks have 2 or 10 layers
    return "sd"


def _input_width(shapes: dict[str, list[int]], endings: tuple[str, ...]) -> int | None:
    """The input width of the first LoRA down-projection whose name ends as one of
    ``endings`` (lower case), from its shape."""
    for key, shape in shapes.items():
        lowered = key.lower().removesuffix(".weight")
        if lowered.endswith(endings) and len(shape) == 2:
            return shape[1]
    return None

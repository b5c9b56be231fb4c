"""Image references through the family's IP-Adapter: --sref (style), --oref (omni) and
/blend, switched on a loaded model before each call, on the worker's thread.

Each SD or SDXL model gets two adapters at once from its family's source (``IP_ADAPTER_SD``,
``IP_ADAPTER_SDXL``: h94/IP-Adapter or a folder laid out like it), the first time one of
its calls has references: adapter 0, the plain one, carries style references (on the
style layers only, as InstantStyle) and blends (every layer); adapter 1, the Plus one,
carries the omni reference (every layer). Both share the image encoder, which the
image-to-image and inpainting twins get too.

A UNet with an IP-Adapter refuses calls without image embeddings, so a call without
references switches it off: the UNet's own attention processors go back in and its image
projection out. Both kinds are kept on the model (``LoadedModel.ip_adapter``), so switching
is a swap of references, never a load from disk; the kept IP modules follow the model to
its device and dtype when they go back in (engine.resident may have moved it meanwhile).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.loading import LOADING
from engine.model import LoadedModel
from engine.types import Reference

logger = logging.getLogger(__name__)

PLAIN, PLUS = 0, 1  # the adapters' places in a call's scales and images
# family -> (subfolder, plain adapter's file, Plus adapter's file), as in h94/IP-Adapter.
ADAPTER_FILES = {
    "sd": ("models", "ip-adapter_sd15.safetensors", "ip-adapter-plus_sd15.safetensors"),
    "sdxl": (
        "sdxl_models",
        "ip-adapter_sdxl_vit-h.safetensors",
        "ip-adapter-plus_sdxl_vit-h.safetensors",
    ),
}
IMAGE_ENCODER_FOLDER = "models/image_encoder"  # ViT-H: what the files above were trained on


class IpAdapterError(ValueError):
    """References a model cannot take: its family has no IP-Adapter, or the adapter does
    not fit it, or does not load."""


@dataclass(eq=False)
class IpAdapters:
    """A model's two adapters, kept while switched off: the IP attention processors by
    name (the cross-attentions'), the image projection, and the UNet's own processors
    while the IP ones are in."""

    source: str
    processors: dict[str, Any]
    projection: Any
    own: dict[str, Any] = field(default_factory=dict)
    on: bool = True


def adapter_source(model: LoadedModel, sources: Mapping[str, str]) -> str:
    """Where ``model``'s family takes its IP-Adapter from (``sources``: family -> source);
    an ``IpAdapterError`` naming the family when it has none."""
    from engine.loras import base_family

    family = model.defaults.family
    try:
        base = base_family(family)
    except ValueError:
        base = family
    source = sources.get(base) if base in ADAPTER_FILES else None
    if source is None:
        why = (
            f"IP_ADAPTER_{base.upper()} is off"
            if base in ADAPTER_FILES
            else "only SD 1.5 and SDXL models take them"
        )
        raise IpAdapterError(f"model {model.name} ({family}) takes no image references: {why}")
    return source


def use_references(
    model: LoadedModel, references: Sequence[Reference], sources: Mapping[str, str]
) -> dict[str, Any]:
    """Set ``model`` up for a call with ``references`` (worker thread): its adapters
    loaded once (from ``sources``, family -> source), switched on with the call's scales,
    or off when there are none. The call's pipeline arguments (``ip_adapter_image``)."""
    if not references:
        switch_off(model)
        return {}
    source = adapter_source(model, sources)
    adapters = model.ip_adapter
    if isinstance(adapters, IpAdapterError):
        raise adapters  # it did not load: not tried again with every batch (a restart does)
    if adapters is None:
        try:
            adapters = model.ip_adapter = load_adapters(model, source)
        except IpAdapterError as exc:
            model.ip_adapter = exc
            raise
    _switch_on(model, adapters)
    _set_scales(model.text2img.unet, adapters, references)
    return {"ip_adapter_image": reference_images(references)}


def switch_off(model: LoadedModel) -> None:
    """The UNet as it was before any adapter: its own processors, no image projection
    (nothing to do when none is in)."""
    adapters = model.ip_adapter
    if not isinstance(adapters, IpAdapters) or not adapters.on:
        return
    unet = model.text2img.unet
    # The projection first: the Plus one's Resampler has attention layers of its own,
    # which the UNet counts among its processors while it holds it.
    unet.encoder_hid_proj = None
    unet.config.encoder_hid_dim_type = None
    unet.set_attn_processor(dict(adapters.own))
    adapters.own = {}
    adapters.on = False


def _switch_on(model: LoadedModel, adapters: IpAdapters) -> None:
    if adapters.on:
        return
    unet = model.text2img.unet  # its own processors only: the projection is out
    place = {"device": unet.device, "dtype": unet.dtype}
    for processor in adapters.processors.values():
        processor.to(**place)
    adapters.projection.to(**place)
    own = unet.attn_processors
    unet.set_attn_processor(
        {name: adapters.processors.get(name, processor) for name, processor in own.items()}
    )
    unet.encoder_hid_proj = adapters.projection
    unet.config.encoder_hid_dim_type = "ip_image_proj"
    adapters.own = dict(own)
    adapters.on = True


def prefetch(source: str, family: str) -> None:
    """Download the family's adapter files and their image encoder from the hub into its
    cache (blocking: a thread of its own, at the bot's start), so that the first job with
    references loads them from disk instead of holding the worker for the download. A
    folder needs nothing; a failure is logged (the first such job then says why)."""
    if Path(source).expanduser().is_dir() or family not in ADAPTER_FILES:
        return
    subfolder, plain, plus = ADAPTER_FILES[family]
    started = time.perf_counter()
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(
            source,
            allow_patterns=[
                f"{subfolder}/{plain}",
                f"{subfolder}/{plus}",
                f"{IMAGE_ENCODER_FOLDER}/*",
            ],
        )
    except Exception as exc:
        logger.warning("IP-Adapter %s (%s) not fetched ahead: %s", source, family, exc)
        return
    logger.info(
        "IP-Adapter %s (%s) fetched in %.1f s", source, family, time.perf_counter() - started
    )


def load_adapters(model: LoadedModel, source: str) -> IpAdapters:
    """Load the family's plain and Plus adapters into ``model`` from ``source`` (a hub id
    or a folder laid out as h94/IP-Adapter), with the image encoder, shared with its
    image-to-image and inpainting twins; checked to fit its UNet first."""
    from diffusers.models.attention_processor import (
        IPAdapterAttnProcessor,
        IPAdapterAttnProcessor2_0,
    )

    from engine.loras import base_family

    pipe = model.text2img
    unet = pipe.unet
    subfolder, plain, plus = ADAPTER_FILES[base_family(model.defaults.family)]
    started = time.perf_counter()
    _check_fit(model, source, subfolder, (plain, plus))
    own = dict(unet.attn_processors)
    encoder = getattr(pipe, "image_encoder", None), getattr(pipe, "feature_extractor", None)
    try:
        with LOADING:  # never beside another thread's load (engine.loading)
            pipe.load_ip_adapter(
                source,
                subfolder=[subfolder, subfolder],
                weight_name=[plain, plus],
                image_encoder_folder=IMAGE_ENCODER_FOLDER,
            )
    except Exception as exc:
        # Back as it was: a half-loaded adapter would refuse every call without images.
        unet.encoder_hid_proj = None
        unet.config.encoder_hid_dim_type = None
        unet.set_attn_processor(own)
        pipe.register_modules(image_encoder=encoder[0], feature_extractor=encoder[1])
        raise IpAdapterError(
            f"the IP-Adapter {source} did not load into model {model.name}: {exc}"
        ) from exc
    for twin in (model.img2img, model.inpaint):
        if twin is not None and hasattr(twin, "image_encoder"):
            twin.register_modules(
                image_encoder=pipe.image_encoder, feature_extractor=pipe.feature_extractor
            )
    ip_kinds = (IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0)
    processors = {
        name: processor
        for name, processor in unet.attn_processors.items()
        if isinstance(processor, ip_kinds)
    }
    logger.info(
        "IP-Adapter %s loaded into model %s (%s, %s) in %.2f s",
        source,
        model.name,
        plain,
        plus,
        time.perf_counter() - started,
    )
    return IpAdapters(source, processors, unet.encoder_hid_proj, own=own)


def _check_fit(model: LoadedModel, source: str, subfolder: str, names: tuple[str, ...]) -> None:
    """Refuse adapters made for another text width (SD 2.x's 1024 against SD 1.5's 768,
    say) before the loader meets them as a bare shape error."""
    from diffusers.utils import _get_model_file
    from safetensors import safe_open

    unet = model.text2img.unet
    width = unet.config.cross_attention_dim
    layers = sum(1 for name in unet.attn_processors if not name.endswith("attn1.processor"))
    for name in names:
        try:
            path = _get_model_file(source, weights_name=name, subfolder=subfolder)
        except Exception as exc:
            raise IpAdapterError(
                f"the IP-Adapter {source} has no {subfolder}/{name} ({exc})"
            ) from exc
        with safe_open(str(path), framework="pt") as weights:
            keys = list(weights.keys())
            proj = next(
                (k for k in ("image_proj.proj.weight", "image_proj.proj_out.weight") if k in keys),
                None,
            )
            rows = weights.get_slice(proj).get_shape()[0] if proj else None
        adapter_width = rows // 4 if proj == "image_proj.proj.weight" and rows else rows
        adapter_layers = sum(1 for key in keys if key.endswith(".to_k_ip.weight"))
        if isinstance(width, int) and adapter_width is not None and adapter_width != width:
            raise IpAdapterError(
                f"the IP-Adapter {subfolder}/{name} from {source} is for a text width of "
                f"{adapter_width}, model {model.name}'s UNet has {width}: set its family's "
                "IP_ADAPTER to one made for this model, or off"
            )
        if adapter_layers != layers:
            raise IpAdapterError(
                f"the IP-Adapter {subfolder}/{name} from {source} has {adapter_layers} "
                f"cross-attention layers, model {model.name}'s UNet has {layers}"
            )


def style_layers(unet: Any) -> str:
    """The name prefix of InstantStyle's style layers: the middle attention of the first
    up block that has attentions (SDXL's ``up_blocks.0.attentions.1``, SD 1.5's
    ``up_blocks.1.attentions.1``)."""
    for index, block in enumerate(unet.up_blocks):
        attentions = getattr(block, "attentions", None)
        if attentions:
            return f"up_blocks.{index}.attentions.{len(attentions) // 2}."
    raise IpAdapterError("this UNet has no attention in its up blocks: no style layers")


def _set_scales(unet: Any, adapters: IpAdapters, references: Sequence[Reference]) -> None:
    """Each IP processor's scale per adapter: style on the style layers of the plain one,
    blend on every layer of it, omni on every layer of the Plus one; 0 where unused."""
    scale = {reference.role: reference.scale for reference in references}
    style = style_layers(unet)
    for name, processor in adapters.processors.items():
        plain = scale.get("style", 0.0) if name.startswith(style) else 0.0
        processor.scale[PLAIN] = scale.get("blend", plain)
        processor.scale[PLUS] = scale.get("omni", 0.0)


def reference_images(references: Sequence[Reference]) -> list[list[Any]]:
    """The call's ``ip_adapter_image``: the plain adapter's images (style or blend) and the
    Plus one's (omni), RGB; an adapter with none of its own (its scale is 0) gets one of
    the others, as the pipeline wants an image for each."""
    images = {reference.path: _open(reference.path) for reference in references}
    plain = [images[r.path] for r in references if r.role in ("style", "blend")]
    plus = [images[r.path] for r in references if r.role == "omni"]
    return [plain or plus[:1], plus or plain[:1]]


def _open(path: Path) -> Any:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except OSError as exc:
        raise IpAdapterError(f"reference image {path.name} cannot be read: {exc}") from exc

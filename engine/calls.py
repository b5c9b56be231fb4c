"""One pipeline call of a worker: the arguments common to a call's images (prompts,
negatives, steps, guidance, per-image generators, the family's own, --chaos's starting
noise) and which of the model's pipelines runs it (text-to-image, image-to-image or
inpainting), with painted images kept outside their mask."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from PIL import Image

from engine.canvas import keep_outside
from engine.chaos import chaos_arguments
from engine.entries import Entry
from engine.images import to_pil_images
from engine.protocols import Pipelines


def call_arguments(
    model: Pipelines,
    entries: list[Entry],
    step_end: Any,
    references: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What every pipeline gets for ``entries`` (one shape), ``step_end`` its callback;
    ``references``: the IP-Adapter's images (``engine.references``), the call's own."""
    import torch

    # CPU generators make a seed give the same image on every device.
    generators = [torch.Generator("cpu").manual_seed(entry.seed) for entry in entries]
    spec = entries[0].item.spec
    # A family with no negative prompt (FLUX.1) is not given one (core refuses --no).
    negatives = [entry.item.spec.negative for entry in entries]
    negatives = negatives if model.defaults.negative else []
    common = {
        "prompt": [entry.item.spec.prompt for entry in entries],
        "negative_prompt": negatives if any(negatives) else None,
        "num_inference_steps": spec.steps,
        "guidance_scale": spec.guidance,
        "generator": generators,
        "callback_on_step_end": step_end,
        "callback_on_step_end_tensor_inputs": ["latents"],
        "output_type": "pt",  # 8-bit on the device: to_pil_images
    }
    common.update(model.defaults.call_arguments())  # FLUX.1, SD3: the T5 sequence
    common.update(chaos_arguments(model, spec, [entry.seed for entry in entries]))
    common.update(references or {})
    return common


def run_pipeline(model: Pipelines, entries: list[Entry], common: dict[str, Any]) -> list:
    """Call the pipeline the entries need (text-to-image, image-to-image or inpainting)
    with the arguments ``common`` to them all; the images, painted ones kept outside
    their mask."""
    spec = entries[0].item.spec
    sources = [entry.source for entry in entries]
    masks = [entry.mask for entry in entries]
    strength = spec.strength
    if model.masked_input and masks[0] is None:
        # A 9-channel inpainting checkpoint takes a mask with every call: the whole
        # image, over a plain grey canvas for text-to-image.
        size = (spec.width, spec.height)
        masks = [Image.new("L", size, 255)] * len(entries)
        if spec.source_image is None:
            sources, strength = [Image.new("RGB", size, (127, 127, 127))] * len(entries), 1.0
    if masks[0] is None and spec.source_image is None:
        result = model.text2img(width=spec.width, height=spec.height, **common)
    elif masks[0] is None:
        # FLUX and SD3 draw at their default size unless told; SD's takes the source's.
        sized = _takes_size(type(model.img2img))
        size = {"width": spec.width, "height": spec.height} if sized else {}
        result = model.img2img(image=sources, strength=strength, **size, **common)
    else:
        result = model.inpaint(
            image=sources,
            mask_image=masks,
            width=spec.width,
            height=spec.height,
            strength=strength,
            **common,
        )
        return [
            keep_outside(painted, source, mask)
            for painted, source, mask in zip(
                to_pil_images(result.images), sources, masks, strict=True
            )
        ]
    return to_pil_images(result.images)


@functools.cache
def _takes_size(pipeline_class: type) -> bool:
    """Whether a pipeline class's call takes ``height`` and ``width`` (read once a class)."""
    import inspect

    return "height" in inspect.signature(pipeline_class.__call__).parameters

"""A batch's images, one entry each: its job, seed and source (and mask) at the job's size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.canvas import painting
from engine.handle import JobHandle


@dataclass(frozen=True, slots=True)
class Entry:
    """One image of a pipeline call."""

    item: JobHandle
    seed: int
    source: Any  # PIL image for image-to-image, else None
    mask: Any = None  # PIL ``L`` image for inpainting, else None


def entries_of(items: list[JobHandle]) -> list[Entry]:
    """Each image of ``items`` with its seed and, for image-to-image, its source (and
    for inpainting its mask), at the job's size."""
    entries = []
    for item in items:
        spec = item.spec
        size = (spec.width, spec.height)
        if spec.paint is not None:
            source, mask = painting(spec)
        else:
            source = None if spec.source_image is None else _load(spec.source_image, "RGB", size)
            mask = None if spec.mask_image is None else _load(spec.mask_image, "L", size)
        entries.extend(Entry(item, seed, source, mask) for seed in spec.seeds)
    return entries


def _load(path: Any, mode: str, size: tuple[int, int]) -> Any:
    from PIL import Image

    with Image.open(path) as opened:
        image = opened.convert(mode)
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image

"""What a finished job leaves on disk: one PNG per image with its recipe, and the grid."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.model import ImageRow, Job
from core.recipes import ImagePrompt, starts_from
from engine import (
    GRID_SIZE,
    JobOutput,
    JobSpec,
    censor_each,
    encode_clip,
    encode_grid,
    encode_png,
    extend_clip,
    read_clip,
    read_recipe,
)
from storage.db import Storage

THUMBNAIL_SIDE = 256
THUMBNAIL_QUALITY = 80


def write_outputs(
    storage: Storage, job: Job, spec: JobSpec, output: JobOutput, sampler: str
) -> list[ImageRow]:
    """Each image as PNG with its recipe, the grid (compressed once for all five files:
    ``engine.encode_grid``) and the /history thumbnail; returns the image rows.
    Blocking (encoding, files): run it on an encoder thread (``core.encoders``)."""
    if output.clip is not None:
        return write_clip(storage, job, spec, output)
    images = output.images
    flags = output.nsfw or [False] * len(images)
    seeds = spec.seeds
    recipes = [
        image_recipe(job, spec, seed, index, sampler, data_dir=storage.data_dir)
        for index, seed in enumerate(seeds, start=1)
    ]
    pixels = [np.asarray(_rgb(image)) for image in images]
    if len(images) == GRID_SIZE and len({p.shape for p in pixels}) == 1:
        grid_text = {"prompt": job.prompt, "job": str(job.id), "Software": "imaginebot"}
        grid, pngs = encode_grid(pixels, grid_text, recipes)
        storage.write_file(storage.grid_path(job.id), grid)
        thumb: bytes | None = grid_thumbnail(images)
    else:
        pngs = [encode_png(image, recipe) for image, recipe in zip(images, recipes, strict=True)]
        thumb = thumbnail(images[0]) if images else None
    rows = []
    for index, (image, seed, data) in enumerate(zip(images, seeds, pngs, strict=True), start=1):
        path = storage.image_path(job.id, index)
        storage.write_file(path, data)
        rows.append(
            ImageRow(
                job_id=job.id,
                index=index,
                width=image.width,
                height=image.height,
                seed=seed,
                nsfw=flags[index - 1],
            )
        )
    if thumb is not None:
        storage.write_file(storage.thumbnail_path(job.id), thumb)
    return rows


CLIP_LIMIT = 10 * 1024 * 1024  # Discord's attachment limit without boosts


def write_clip(storage: Storage, job: Job, spec: JobSpec, output: JobOutput) -> list[ImageRow]:
    """A clip job's files: the MP4 (H.264, fitted under ``CLIP_LIMIT``: ``engine.clips``;
    an Extend's is the previous clip and what it adds) with the recipe in its metadata,
    its first frame as image 1 (its PNG, the /history thumbnail); the one image row, flagged
    when the classifier flagged any of the frames it saw. Blocking: an encoder thread."""
    frames = output.clip
    plan = spec.clip
    if plan is not None and plan.prefix is not None:  # Extend: the clip so far, then this
        previous, _ = read_clip(plan.prefix.read_bytes())
        frames = extend_clip(previous, frames)
    recipe = {
        "prompt": job.prompt,
        "seed": str(job.seed),
        "model": job.params.model,
        "job": str(job.id),
        "kind": str(job.kind),
        "frames": str(len(frames)),
        "fps": str(output.fps),
        "Software": "imaginebot",
    }
    clip = encode_clip(frames, output.fps, limit_bytes=CLIP_LIMIT, metadata=recipe)
    storage.write_file(storage.clip_path(job.id), clip.data)
    storage.write_file(storage.image_path(job.id, 1), clip.poster)
    with Image.open(io.BytesIO(clip.poster)) as poster:
        storage.write_file(storage.thumbnail_path(job.id), thumbnail(poster))
    flagged = any(output.nsfw)  # an Extend's parent's flag is added by the runner
    return [ImageRow(job.id, 1, clip.width, clip.height, job.seed, nsfw=flagged)]


def fitting_clip(storage: Storage, job_id: int, limit: int) -> bytes:
    """Job ``job_id``'s clip as it may be sent where files are at most ``limit`` bytes: the
    MP4 itself when it fits (always, at Discord's 10 MB or more), else its frames encoded
    again under ``limit`` (a lower bitrate, then smaller frames: ``engine.clips``), kept
    beside it for the next delivery there. A ``ValueError`` only for a limit no clip could
    meet. Blocking, and the frames of the whole clip in memory: an encoder thread."""
    path = storage.clip_path(job_id)
    data = path.read_bytes()
    if len(data) <= limit:
        return data
    fitted = path.with_name(f"{path.stem}-{int(limit)}{path.suffix}")
    if fitted.is_file():
        return fitted.read_bytes()
    frames, fps = read_clip(data)
    recipe = read_recipe(data)  # over the limit at quality: straight to the bitrate
    clip = encode_clip(frames, fps, limit_bytes=limit, metadata=recipe, quality_first=False)
    storage.write_file(fitted, clip.data)
    return clip.data


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")  # no copy when it is


def grid_thumbnail(images: list[Image.Image]) -> bytes:
    """The grid's thumbnail made from its four images, each reduced on its own (no
    full-size grid image is built for it)."""
    width, height = images[0].size
    factor = -(-2 * max(width, height) // THUMBNAIL_SIDE)  # ceiling
    cells = [image.reduce(factor) if factor > 1 else image for image in images]
    cell_w, cell_h = cells[0].size
    sheet = Image.new("RGB", (2 * cell_w, 2 * cell_h))
    for index, cell in enumerate(cells):
        sheet.paste(cell.convert("RGB"), ((index % 2) * cell_w, (index // 2) * cell_h))
    return _webp(sheet)


def _webp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "WEBP", quality=THUMBNAIL_QUALITY, method=0)
    return out.getvalue()


def thumbnail(image: Image.Image) -> bytes:
    """A small WebP of a grid or an image for /history (at most ``THUMBNAIL_SIDE`` px):
    a box reduction, then the fastest WebP method (a few milliseconds for a grid)."""
    small = image.convert("RGB")
    factor = -(-max(small.size) // THUMBNAIL_SIDE)  # ceiling
    if factor > 1:
        small = small.reduce(factor)
    return _webp(small)


def ensure_thumbnail(storage: Storage, job: Job) -> Path | None:
    """The job's thumbnail, made now from its grid or image if it has none yet (a job
    from before thumbnails): once per job, never on every page view. None when the job
    has no images (queued, failed, purged). Blocking: run it off the event loop."""
    path = storage.thumbnail_path(job.id)
    if path.is_file():
        return path
    if job.purged_at is not None or job.images_expired_at is not None:
        return None
    for source in (storage.grid_path(job.id), storage.image_path(job.id, 1)):
        if source.is_file():
            with Image.open(source) as image:
                storage.write_file(path, thumbnail(image))
            return path
    return None


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A job's /history thumbnail as it may be shown where the page is posted:
    ``blurred`` when flagged images in it are blurred (shown as a spoiler)."""

    path: Path
    blurred: bool = False


def censored_thumbnail(storage: Storage, job: Job, flags: list[bool], mode: str) -> Path | None:
    """The thumbnail shown outside NSFW channels of a job whose images ``flags`` marks:
    those blurred (``blur``) or grey (``block``) as its message shows them, made from its
    images once per job and mode. None when the job has no images. Blocking."""
    path = storage.thumbnail_path(job.id, censored=mode)
    if path.is_file():
        return path
    sources = [storage.image_path(job.id, index) for index in range(1, len(flags) + 1)]
    gone = job.purged_at is not None or job.images_expired_at is not None
    if gone or not all(source.is_file() for source in sources):
        return None
    images = []
    for source in sources:
        with Image.open(source) as image:
            images.append(image.convert("RGB"))
    cells = censor_each(images, flags, mode)
    grid = len(cells) == GRID_SIZE and len({cell.size for cell in cells}) == 1
    storage.write_file(path, grid_thumbnail(cells) if grid else thumbnail(cells[0]))
    return path


def image_recipe(
    job: Job,
    spec: JobSpec,
    seed: int,
    index: int,
    sampler: str,
    *,
    data_dir: Path | None = None,
) -> dict[str, str]:
    """PNG text metadata: the fields one by one, and A1111's ``parameters`` chunk."""
    model = job.params.model
    recipe = {
        "prompt": job.prompt,
        "negative": job.negative,
        "seed": str(seed),
        "steps": str(spec.steps),
        "guidance": f"{spec.guidance:g}",
        "size": f"{spec.width}x{spec.height}",
        "model": model,
        "job": str(job.id),
        "index": str(index),
        "kind": str(job.kind),
        "Software": "imaginebot",
    }
    line = (
        f"Steps: {spec.steps}, Sampler: {sampler}, CFG scale: {spec.guidance:g}, Seed: {seed}, "
        f"Size: {spec.width}x{spec.height}, Model: {model}"
    )
    if spec.source_image is not None:
        recipe["strength"] = f"{spec.strength:g}"
        line += f", Denoising strength: {spec.strength:g}"
    image = starts_from(job.recipe)
    if isinstance(image, ImagePrompt) and spec.source_image is not None:
        # The image prompt it started from, where it is kept under DATA_DIR.
        source = Path(spec.source_image)
        recipe["image"] = (source.relative_to(data_dir) if data_dir else source).as_posix()
        recipe["image weight"] = f"{image.weight:g}"
        line += f", Image weight: {image.weight:g}"
    if spec.chaos and spec.source_image is None:
        recipe["chaos"] = str(spec.chaos)
        line += f", Chaos: {spec.chaos}"
    for role in ("style", "omni", "blend"):  # IP-Adapter references, kept under DATA_DIR
        paths = [Path(r.path) for r in spec.references if r.role == role]
        if paths:
            shown = [(p.relative_to(data_dir) if data_dir else p).as_posix() for p in paths]
            recipe[f"{role} references"] = ", ".join(shown)
            scale = next(r.scale for r in spec.references if r.role == role)
            line += f", IP-Adapter {role}: {len(paths)} at {scale:g}"
    if spec.tile:
        recipe["tile"] = "on"
        line += ", Tiling: True"
    if job.params.loras:
        recipe["loras"] = ", ".join(f"{name}:{weight:g}" for name, weight in job.params.loras)
    # A1111 names LoRAs in the prompt, as its users write them: <lora:name:weight>.
    tags = "".join(f" <lora:{name}:{weight:g}>" for name, weight in job.params.loras)
    negative = f"\nNegative prompt: {job.negative}" if job.negative else ""
    recipe["parameters"] = f"{job.prompt}{tags}{negative}\n{line}"
    return recipe

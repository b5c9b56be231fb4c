"""What a finished job leaves on disk: one PNG per image with its recipe, and the grid."""

from __future__ import annotations

from pathlib import Path

from core.model import ImageRow, Job
from engine import GRID_SIZE, JobOutput, JobSpec, compose_grid, encode_png
from storage.db import Storage


def write_outputs(
    storage: Storage, job: Job, spec: JobSpec, output: JobOutput, sampler: str
) -> list[ImageRow]:
    """Encode each image as PNG with its recipe, and the grid; returns the image rows.
    Blocking (PNG encoding): run it off the event loop."""
    images = output.images
    flags = output.nsfw or [False] * len(images)
    rows = []
    for index, (image, seed) in enumerate(zip(images, spec.seeds, strict=True), start=1):
        recipe = image_recipe(job, spec, seed, index, sampler, data_dir=storage.data_dir)
        path = storage.image_path(job.id, index)
        storage.write_file(path, encode_png(image, recipe))
        rows.append(
            ImageRow(
                job_id=job.id,
                index=index,
                path=str(path.relative_to(storage.data_dir)),
                width=image.width,
                height=image.height,
                seed=seed,
                nsfw=flags[index - 1],
            )
        )
    if len(images) == GRID_SIZE:
        grid_text = {"prompt": job.prompt, "job": str(job.id), "Software": "imaginebot"}
        storage.write_file(storage.grid_path(job.id), encode_png(compose_grid(images), grid_text))
    return rows


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
    if job.params.image_weight is not None and spec.source_image is not None:
        # The image prompt it started from, where it is kept under DATA_DIR.
        source = Path(spec.source_image)
        recipe["image"] = (source.relative_to(data_dir) if data_dir else source).as_posix()
        recipe["image weight"] = f"{job.params.image_weight:g}"
        line += f", Image weight: {job.params.image_weight:g}"
    if spec.tile:
        recipe["tile"] = "on"
        line += ", Tiling: True"
    negative = f"\nNegative prompt: {job.negative}" if job.negative else ""
    recipe["parameters"] = f"{job.prompt}{negative}\n{line}"
    return recipe

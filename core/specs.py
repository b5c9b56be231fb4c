"""The engine's view of a committed job: its ``JobSpec``, built from its row once, when the
job is handed to the engine (a clip's by ``core.clips``)."""

from __future__ import annotations

import dataclasses

from core.clips import clip_spec
from core.model import Job, NewJob
from core.recipes import (
    CLIP_KINDS,
    Animate,
    Extend,
    ImagePrompt,
    ImageRef,
    made,
    paint,
    starts_from,
)
from core.references import engine_references
from engine import Engine, JobSpec
from storage.db import Storage


class ModelGone(ValueError):
    """A queued job's model or LoRA is not among those the bot offers now (``MODELS`` or
    ``LORA_DIR`` changed)."""


def job_spec(storage: Storage, engine: Engine, job: Job) -> JobSpec:
    """``job``'s spec; ``ModelGone`` when its model, LoRA or video model is no longer
    offered."""
    p = job.params
    if isinstance(made(job.recipe), CLIP_KINDS):  # the video model's (core.clips)
        video = engine.video
        if video is None or video.name != p.model:
            raise ModelGone(f"the video model it was made with ({p.model}) is off")
        return dataclasses.replace(clip_spec(storage, job, video), relax=job.mode == "relax")
    alias = engine.alias_of(p.model)
    if alias is None:
        raise ModelGone(f"the model it was made with ({p.model}) is no longer offered")
    gone = [name for name, _ in p.loras if name not in engine.loras]
    if gone:
        raise ModelGone(f"the LoRA it was made with ({gone[0]}) is no longer offered")
    start = starts_from(job.recipe)
    source = None
    if isinstance(start, ImageRef):
        source = storage.image_path(start.job, start.index)
    elif isinstance(start, ImagePrompt):  # its own source.png, or a parent's
        source = storage.source_path(start.job or job.id)
    return JobSpec(
        job_id=job.id,
        prompt=job.prompt,
        negative=job.negative,
        width=p.width,
        height=p.height,
        steps=p.steps,
        guidance=p.guidance,
        seed=job.seed,
        num_images=p.num_images,
        source_image=source,
        strength=job.recipe.strength,
        paint=paint(job.recipe),
        tile=p.tile,
        owner=job.user_id,
        model=alias,
        loras=p.loras,
        chaos=p.chaos,
        references=engine_references(storage, job.id, p),
        relax=job.mode == "relax",
    )


def folders_read(job: Job | NewJob) -> set[int]:
    """The other jobs whose folders ``job`` reads when it runs (its spec above, and a
    clip's plan in ``core.clips``): its parent, the job of the image it starts from (an
    image prompt may stay in the folder of the first job of a line of rerolls), of a clip's
    end image, of the clip an Extend continues, and of its references. The retention sweep
    keeps those folders while the job is queued or running."""
    recipe = made(job.recipe)
    start = starts_from(recipe)
    read = {job.parent_id, None if start is None else start.job}
    if isinstance(recipe, Animate) and recipe.end is not None:
        read.add(recipe.end.job)
    if isinstance(recipe, Extend):
        read.add(recipe.clip)
    read.update(owner for _, owner, _ in job.params.references)
    own = job.id if isinstance(job, Job) else None
    return {job_id for job_id in read if job_id is not None and job_id != own}

"""Clips (issue 27's Animate and Extend): the new job of each request, and what the engine
is given for one.

A clip is drawn at about 480p (``clip_size``: the pixels of 832x480 for LTX-Video, in the
source's proportion, both sides multiples of 32), ``VideoOffer.frames`` frames at its rate
(five seconds at 24 fps for LTX-Video). ``Extend`` continues a clip by about four seconds from
its last frames, up to ``MAX_CLIP_SECONDS`` in all; its job keeps the whole clip (the
previous one and what it adds), so ``JobParams.frames`` is always the clip's full length.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.blocked import Text
from core.errors import BadParameter, UnknownJob, UserError
from core.image_prompt import ImageFetch, fitted, load_image_prompt
from core.model import Action, ImageRow, Job, JobParams, NewJob, Requester
from core.prompt import ParsedPrompt
from core.recipes import Animate, Extend, ImagePrompt, ImageRef, Motion, Reroll, made
from core.references import job_image
from engine import ClipPlan, JobSpec, VideoOffer, encode_png, overlap_frames

if TYPE_CHECKING:
    from core.jobs import Jobs
    from engine import Engine
    from storage.db import Storage

SPATIAL, TEMPORAL = 32, 8  # a clip's sides are multiples of 32, its frames 8k+1
MIN_SIDE = 64
MAX_CLIP_SECONDS = 21.0
EXTEND_SECONDS = 4.0
PREFIX_FRAMES = 17  # the previous clip's last frames an Extend re-renders (engine.video)


def clip_size(width: int, height: int, side: int) -> tuple[int, int]:
    """The clip's size for a source of ``width`` x ``height``: the pixels of a
    ``side`` x ``side * 480 / 832`` clip (480p-class for the 832 side of LTX-Video) in the
    source's proportion, both sides multiples of 32, from 64 to ``side``."""
    area = side * side * 480 / 832
    ratio = width / height

    def snap(value: float) -> int:
        return min(side, max(MIN_SIDE, round(value / SPATIAL) * SPATIAL))

    return snap((area * ratio) ** 0.5), snap((area / ratio) ** 0.5)


def clip_params(video: VideoOffer, size: tuple[int, int]) -> JobParams:
    """How a new clip of ``size`` is drawn: the video model's steps, guidance, frames, rate."""
    return JobParams(
        width=size[0],
        height=size[1],
        steps=video.defaults.steps,
        guidance=video.defaults.guidance,
        num_images=1,
        model=video.name,
        frames=video.frames,
        fps=video.fps,
    )


def extension_frames(video: VideoOffer) -> int:
    """The frames an Extend's call draws: about ``EXTEND_SECONDS`` and the re-rendered
    prefix, as 8k+1."""
    wanted = int(EXTEND_SECONDS * video.fps) + PREFIX_FRAMES
    return (wanted - 1 + TEMPORAL - 1) // TEMPORAL * TEMPORAL + 1


def added_frames(video: VideoOffer, previous: int) -> int:
    """The frames an Extend adds to a clip of ``previous`` frames (its call's, less the
    frames that re-render the previous clip's end: ``engine.video.overlap_frames``)."""
    drawn = extension_frames(video)
    return drawn - overlap_frames(previous, drawn)


def animate(
    who: Requester,
    parent: Job,
    source: ImageRow | ImagePrompt,
    motion: Motion,
    video: VideoOffer,
    *,
    size: tuple[int, int],
    prompt: str | None = None,
    loop: bool = False,
    end: ImageRef | None = None,
) -> NewJob:
    """Animate (Low/High motion): a clip from ``source`` (an image of ``parent``; or the
    job's own uploaded image, for ``--video``) at ``size`` (``clip_size``), with
    ``prompt`` (the remix form's motion prompt; else the parent's)."""
    start = source if isinstance(source, ImagePrompt) else ImageRef(source.job_id, source.index)
    params = clip_params(video, clip_size(*size, video.defaults.native_size))
    index = None if isinstance(source, ImagePrompt) else source.index
    return _clip_job(who, parent, prompt, params, Animate(start, motion, loop, end), index)


def extend(
    who: Requester, parent: Job, motion: Motion, video: VideoOffer, prompt: str | None = None
) -> NewJob:
    """Extend (Low/High motion): ``parent``'s clip continued by about four seconds, refused
    past ``MAX_CLIP_SECONDS``."""
    p = parent.params
    if not p.frames or not p.fps:
        raise UserError(f"Job {parent.id} is not a clip: there is nothing to extend.")
    frames = p.frames + added_frames(video, p.frames)
    if frames - 1 > MAX_CLIP_SECONDS * p.fps:  # 21 s of intervals between frames
        raise UserError(
            f"The clip of job {parent.id} is {p.frames / p.fps:.0f} s long; a clip may grow "
            f"to {MAX_CLIP_SECONDS:.0f} s, so it cannot be extended again."
        )
    return _clip_job(who, parent, prompt, p.but(frames=frames), Extend(parent.id, motion))


def _clip_job(
    who: Requester,
    parent: Job,
    prompt: str | None,
    params: JobParams,
    recipe: Animate | Extend | Reroll,
    index: int | None = None,
) -> NewJob:
    """A clip job of ``who`` from ``parent`` (its prompt unless ``prompt``), a new seed."""
    return NewJob(
        user_id=who.user_id,
        guild_id=who.guild_id,
        channel_id=who.channel_id,
        prompt=parent.prompt if prompt is None else prompt,
        negative="",
        seed=secrets.randbelow(2**32),
        params=params,
        recipe=recipe,
        parent_id=parent.id,
        parent_index=index,
    )


def is_clip(job: Job) -> bool:
    """Whether ``job`` made a clip (its buttons are Extend and 🔄)."""
    return isinstance(made(job.recipe), Animate | Extend)


def child(
    engine: Engine,
    who: Requester,
    parent: Job,
    source: ImageRow,
    wanted: Action,
    remix: str | None,
    check: Callable[[str], ParsedPrompt],
) -> NewJob:
    """The job a button asks for on an image (Animate) or a clip (Extend, 🔄); ``remix``:
    the form's motion prompt, checked like a prompt (``check``)."""
    video = offered(engine)
    motion: Motion = "high" if wanted.motion == "high" else "low"
    prompt = None if remix is None else check(remix).prompt
    extending = wanted in (Action.EXTEND_LOW, Action.EXTEND_HIGH)
    if not is_clip(parent) and wanted.motion is not None and not extending:
        return animate(
            who, parent, source, motion, video, size=(source.width, source.height), prompt=prompt
        )
    if is_clip(parent) and parent.params.model != video.name:
        raise UnknownJob(
            f"Job {parent.id}'s clip was made with a video model this bot no longer offers "
            f"({parent.params.model}); animate the image again."
        )
    if is_clip(parent) and extending:
        return extend(who, parent, motion, video, prompt)
    if is_clip(parent) and wanted is Action.REROLL:  # the same clip, another seed
        return _clip_job(who, parent, prompt, parent.params, Reroll(made(parent.recipe)))
    what = "a clip" if is_clip(parent) else "an image"
    raise UnknownJob(f"This button ({wanted.value}) does not apply to {what} (job {parent.id}).")


def offered(engine: Engine) -> VideoOffer:
    """The engine's video model, or a ``UserError`` saying why no clip can start now:
    none offered, or its files still being fetched (``engine.video.prefetch``)."""
    video = engine.video
    if video is None:
        raise UserError("Animating images is not available on this bot.")
    if video.fetch.busy:
        raise UserError(
            "The video model is still being downloaded since this bot started; "
            "try again in a few minutes."
        )
    return video


def clip_plan(storage: Storage, job: Job, video: VideoOffer) -> ClipPlan:
    """The engine's plan of a clip job: its start image (an Extend's: the previous clip's
    first frame, held by its last frames), its conditions and shape."""
    p, recipe = job.params, made(job.recipe)
    common: dict[str, Any] = {
        "prompt": job.prompt,
        "width": p.width,
        "height": p.height,
        "fps": p.fps,
        "steps": p.steps,
        "guidance": p.guidance,
        "seed": job.seed,
        "motion": recipe.motion if isinstance(recipe, Animate | Extend) else "low",
    }
    if isinstance(recipe, Extend):
        return ClipPlan(
            source=storage.image_path(recipe.clip, 1),
            frames=extension_frames(video),
            prefix=storage.clip_path(recipe.clip),
            **common,
        )
    if not isinstance(recipe, Animate):
        raise ValueError(f"job {job.id} is not a clip ({job.kind})")
    if isinstance(recipe.source, ImagePrompt):
        source = storage.source_path(recipe.source.job or job.id)
    else:
        source = storage.image_path(recipe.source.job, recipe.source.index)
    end = None if recipe.end is None else storage.image_path(recipe.end.job, recipe.end.index)
    return ClipPlan(source=source, frames=p.frames, loop=recipe.loop, end=end, **common)


def clip_spec(storage: Storage, job: Job, video: VideoOffer) -> JobSpec:
    """The engine's view of a clip job: on the video model, a call of its own."""
    p = job.params
    return JobSpec(
        job_id=job.id,
        prompt=job.prompt,
        negative="",
        width=p.width,
        height=p.height,
        steps=p.steps,
        guidance=p.guidance,
        seed=job.seed,
        num_images=1,
        owner=job.user_id,
        model=video.alias,
        clip=clip_plan(storage, job, video),
    )


async def imagine_clips(
    jobs: Jobs, who: Requester, prompts: list[ParsedPrompt], image: bytes | ImageFetch | None
) -> list[Job]:
    """``/imagine`` with ``--video``: each prompt a clip from the uploaded image (kept with
    the job, fitted to the clip's size), ``--motion``, ``--loop`` or ``--end ID:N`` (an
    image of a job here); refused before the image is fetched when it cannot be."""
    for parsed in prompts:
        if not parsed.video:
            raise BadParameter(
                "--video",
                "`--motion`, `--loop` and `--end` are for clips: add `--video` (with an image).",
            )
        if parsed.loop and parsed.end:
            raise BadParameter("--loop", "A clip loops or ends on another image, not both.")
        if parsed.style_refs or parsed.omni_ref or parsed.image_weight is not None:
            raise BadParameter("--video", "A clip takes no `--sref`, `--oref` or `--iw`.")
        if parsed.draft:
            raise BadParameter("--draft", "A clip has no draft: remove `--draft`.")
    if image is None:
        raise BadParameter("--video", "`--video` animates an image: attach one in `image`.")
    video = offered(jobs.engine)
    await jobs.admission.check(who, len(prompts), cost=jobs.limits.video_cost)
    sources = (Text.PROMPT, Text.NEGATIVE)
    await jobs.admission.words.check_all(who, [(p.prompt, "") for p in prompts], sources)
    ends = {}
    for parsed in prompts:
        if parsed.end and parsed.end not in ends:
            job_id, index = (int(part) for part in parsed.end.split(":"))
            await job_image(jobs.storage, who, job_id, index, "--end")
            ends[parsed.end] = ImageRef(job_id, index)
    data = await image() if callable(image) else image
    picture = await asyncio.to_thread(load_image_prompt, data)
    size = clip_size(*picture.size, video.defaults.native_size)
    png = await asyncio.to_thread(_fitted_png, picture, size)
    news = []
    for parsed in prompts:
        params = clip_params(video, size)
        end = ends.get(parsed.end) if parsed.end else None
        motion: Motion = "high" if parsed.motion == "high" else "low"
        recipe = Animate(ImagePrompt(1.0), motion, parsed.loop, end)
        seed = secrets.randbelow(2**32) if parsed.seed is None else parsed.seed
        new = NewJob(who.user_id, parsed.prompt, "", seed, params, recipe, who.guild_id)
        placed = dict(channel_id=who.channel_id, source_png=png, mode=parsed.mode)
        news.append(dataclasses.replace(new, **placed))
    return await jobs.admission.admit_all(who, news, sources=sources, checked=True)


def _fitted_png(picture: Any, size: tuple[int, int]) -> bytes:
    """The uploaded image cover-cropped to the clip's size, as the clip job keeps it."""
    return encode_png(fitted(picture, size), {"Software": "imaginebot"})

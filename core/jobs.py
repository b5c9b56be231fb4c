"""Requests that start or stop jobs: /imagine, the buttons under a grid, Cancel."""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from core.admission import Admission
from core.blocked import PARENT_TEXTS, Text
from core.errors import BadParameter, NotAllowed, UnknownJob, UserError
from core.image_prompt import (
    DEFAULT_IMAGE_WEIGHT,
    ImageFetch,
    fitted,
    image_strength,
    load_image_prompt,
    own_aspect,
)
from core.limits import Limits
from core.model import Action, ImageRow, Job, JobKind, JobParams, JobStatus, NewJob, Requester
from core.prompt import ParsedPrompt, format_prompt, parse_float, parse_prompt, parse_prompts
from core.runner import Runner
from core.sizes import size_for_aspect
from engine import GRID_SIZE, Engine, censor_each, encode_png, pan_size, region_preview
from storage.db import Storage

STRONG_VARIATION = 0.7
SUBTLE_VARIATION = 0.35
UPSCALE_STRENGTH = 0.3
CREATIVE_UPSCALE_STRENGTH = 0.4
UPSCALE_FACTOR = 2
MIN_ZOOM, MAX_ZOOM = 1.0, 2.0  # Custom Zoom's factor
REGION_CELLS = 9  # Vary (Region): a 3x3 grid, cells 1..9 row by row


@dataclass(frozen=True, slots=True)
class Edit:
    """A prompt edited in a form (remix, Custom Zoom, Vary (Region)), parsed and bounded
    like a new /imagine: what replaces the parent's text and settings in the child."""

    prompt: str
    negative: str
    steps: int
    guidance: float
    seed: int | None
    aspect: tuple[int, int] | None
    tile: bool = False


class Jobs:
    """Turns requests into admitted jobs (and cancels them)."""

    def __init__(
        self,
        storage: Storage,
        engine: Engine,
        limits: Limits,
        admission: Admission,
        runner: Runner,
    ) -> None:
        self.storage = storage
        self.engine = engine
        self.limits = limits
        self.admission = admission
        self.runner = runner

    def check_prompt(self, text: str) -> ParsedPrompt:
        """Parse and bound-check a prompt with its parameters (pure, fast)."""
        return parse_prompt(text, max_steps=self.limits.max_steps)

    async def get_job(self, job_id: int, who: Requester) -> Job:
        """The job, when ``who`` may see it (its server's, or an owner), else ``UnknownJob``:
        a job of another server is answered exactly like one that does not exist."""
        job = await self.storage.get_job(job_id, scope=who.scope)
        if job is None:
            raise UnknownJob(f"There is no job {job_id}.")
        return job

    async def imagine(self, who: Requester, text: str) -> Job:
        """Queue the one text-to-image job of ``text``; returns its row. A prompt that
        makes several (``--repeat``, ``{}``) is for ``imagine_all``."""
        count = len(parse_prompts(text, max_steps=self.limits.max_steps))
        if count != 1:
            raise ValueError(f"{text!r} makes {count} jobs: use imagine_all")
        [job] = await self.imagine_all(who, text)
        return job

    async def imagine_all(
        self, who: Requester, text: str, image: bytes | ImageFetch | None = None
    ) -> list[Job]:
        """Queue every job ``text`` asks for (its ``{}`` permutations, each ``--repeat``
        times, at most 4), admitted all together or none; returns their rows in order.

        ``image``: an image prompt (the file's bytes, or a coroutine function that
        downloads them, called only once the prompt, ban, quota and queue checks passed,
        so that a refused user costs no download and no decode): each job is
        image-to-image from it, cover-cropped to the job's ``--ar`` (or at the image's own
        aspect), following it as closely as ``--iw`` says (``image_strength``).
        ``BadImage`` says what is wrong with a file, before any job exists."""
        prompts = parse_prompts(text, max_steps=self.limits.max_steps)
        if image is None and any(p.image_weight is not None for p in prompts):
            raise BadParameter(
                "--iw",
                "`--iw` sets how closely the result follows an image prompt: attach an "
                "image in the `image` option, or remove `--iw`.",
            )
        # The cheap refusals first (the same read brings the user's /settings), then the
        # blocked words: all before the image is downloaded or decoded.
        mine = (await self.admission.check(who, len(prompts))).settings
        saved = all(parsed.negative is None for parsed in prompts)
        texts_from = (Text.PROMPT, Text.SAVED_NEGATIVE if saved else Text.NEGATIVE)
        negatives = [
            p.negative if p.negative is not None else mine.get("negative", "") for p in prompts
        ]
        texts = [(p.prompt, n) for p, n in zip(prompts, negatives, strict=True)]
        await self.admission.words.check_all(who, texts, texts_from)
        if callable(image):
            image = await image()
        picture = None if image is None else await asyncio.to_thread(load_image_prompt, image)
        defaults = self.engine.model.defaults
        news = []
        seeds: dict[int, int] = {}  # a given --seed: each repeat continues the sequence
        fitted: dict[tuple[int, int], bytes] = {}  # the image prompt fitted, by size
        for parsed, negative in zip(prompts, negatives, strict=True):
            # The prompt's own parameters win; then the user's /settings; then the model's.
            if picture is not None:  # the image's own shape, unless --ar says another
                aspect = parsed.aspect or own_aspect(picture)
            else:
                aspect = parsed.aspect or _aspect(mine.get("aspect")) or (1, 1)
            width, height = size_for_aspect(*aspect, defaults.native_size)
            steps = next(
                v for v in (parsed.steps, mine.get("steps"), defaults.steps) if v is not None
            )
            cfg = next(v for v in (parsed.cfg, mine.get("cfg"), defaults.guidance) if v is not None)
            params = JobParams(
                aspect=f"{aspect[0]}:{aspect[1]}",
                width=width,
                height=height,
                base_width=width,
                base_height=height,
                steps=min(int(steps), self.limits.max_steps),
                guidance=float(cfg),
                num_images=GRID_SIZE,
                model=self.runner.model_name,
                tile=parsed.tile or None,
                negative_from=who.user_id if parsed.negative is None and negative else None,
            )
            source = None
            if picture is not None:
                strength = image_strength(parsed.image_weight)
                params = params.but(
                    image_weight=parsed.image_weight
                    if parsed.image_weight is not None
                    else DEFAULT_IMAGE_WEIGHT,
                    strength=strength,
                    steps=_steps_for(params.steps, strength),
                )
                if (width, height) not in fitted:  # repeats of one size share it
                    fit = await asyncio.to_thread(_source_png, picture, (width, height))
                    fitted[width, height] = fit
                source = fitted[width, height]
            if parsed.seed is None:
                seed = secrets.randbelow(2**32)
            else:
                repeat = seeds.get(parsed.seed, 0)
                seeds[parsed.seed] = repeat + 1
                seed = (parsed.seed + GRID_SIZE * repeat) % 2**32
            news.append(
                NewJob(
                    kind=JobKind.IMAGINE,
                    user_id=who.user_id,
                    guild_id=who.guild_id,
                    channel_id=who.channel_id,
                    prompt=parsed.prompt,
                    negative=negative,
                    seed=seed,
                    params=params,
                    source_png=source,
                )
            )
        return await self.admission.admit_all(who, news, sources=texts_from, checked=True)

    async def press(
        self,
        who: Requester,
        action: str,
        job_id: int,
        index: int | None,
        *,
        remix: str | None = None,
    ) -> Job:
        """Start the child job a button asks for; it belongs to whoever pressed.

        ``remix``: the prompt (with parameters) the user submitted in the remix form,
        checked like a new /imagine; it replaces the parent's (``--ar`` may change only
        for 🔄, which makes new images from the text alone)."""
        try:
            wanted = Action(action)
        except ValueError:
            wanted = Action.CANCEL
        if not wanted.starts_a_job or (remix is not None and not wanted.remixable):
            raise UnknownJob(f"This button ({action}) is not one I know.")
        await self.admission.check_not_banned(who)
        parent = await self.get_job(job_id, who)
        edit = None if remix is None else self.edit(parent, remix)
        if wanted is Action.REROLL:
            return await self._reroll(who, parent, edit)
        source = await self._source_image(parent, index)
        if edit is not None:
            _refuse_new_aspect(parent, _grid_size(parent, source), edit, _ONLY_REROLL_AND_ZOOM)
        if wanted in (Action.UPSCALE, Action.UPSCALE_CREATIVE):
            return await self._upscale(who, parent, source, creative=wanted != Action.UPSCALE)
        if wanted.zoom is not None:
            return await self._zoom(who, parent, source, wanted.zoom, edit)
        if wanted.pan is not None:
            return await self._pan(who, parent, source, wanted.pan, edit)
        strength = STRONG_VARIATION if wanted is Action.VARY_STRONG else SUBTLE_VARIATION
        return await self._vary(who, parent, source, strength, edit)

    async def form_text(self, who: Requester, job_id: int) -> str:
        """The job's prompt with its parameters, as a form (remix, Custom Zoom, Vary
        (Region)) starts from; refused as a button press would be (banned, another
        server's job, images removed)."""
        await self.admission.check_not_banned(who)
        job = await self.get_job(job_id, who)
        _refuse_purged(job)
        p = job.params
        return format_prompt(
            job.prompt,
            # Another member's saved /settings negative is theirs: not shown, not carried on.
            negative=job.negative if p.negative_from in (None, who.user_id) else "",
            aspect=p.aspect,
            steps=p.steps,
            cfg=p.guidance,
            tile=bool(p.tile),
        )

    async def region_picture(
        self, who: Requester, job_id: int, index: int | None, nsfw_filter: str = "off"
    ) -> tuple[bytes, bool]:
        """The image with the 3x3 cells of Vary (Region) drawn and numbered over it (PNG),
        refused as the button would be (banned, another server's job, no such image);
        and whether the NSFW filter (``nsfw_filter``, as it applies where the picker is
        shown) blurred or greyed the image under the cells."""
        await self.admission.check_not_banned(who)
        parent = await self.get_job(job_id, who)
        source = await self._source_image(parent, index)
        path = self.storage.absolute(source.path)
        hidden = source.nsfw and nsfw_filter != "off"

        def draw() -> bytes:
            with Image.open(path) as image:
                [shown] = censor_each([image], [hidden], nsfw_filter)
                return encode_png(region_preview(shown))

        return await asyncio.to_thread(draw), hidden

    def edit(self, parent: Job, text: str) -> Edit:
        """``text`` from a form, parsed and bounded like a new /imagine (``BadParameter``
        as for /imagine); what it leaves out is the parent's, but for the negative: a
        ``--no`` removed from the form is no negative."""
        parsed = self.check_prompt(text)
        steps = parsed.steps if parsed.steps is not None else parent.params.steps
        cfg = parsed.cfg if parsed.cfg is not None else parent.params.guidance
        return Edit(
            prompt=parsed.prompt,
            negative=parsed.negative or "",
            steps=min(int(steps), self.limits.max_steps),
            guidance=float(cfg),
            seed=parsed.seed,
            aspect=parsed.aspect,
            tile=parsed.tile,
        )

    async def custom_zoom(
        self, who: Requester, job_id: int, index: int | None, text: str, factor: str
    ) -> Job:
        """Custom Zoom: zoom out by ``factor`` (1.0 to 2.0) with the edited prompt; an
        ``--ar`` in it changes the canvas's aspect ratio (the image is fitted inside)."""
        value = parse_float(factor.strip().removesuffix("x"), "zoom", MIN_ZOOM, MAX_ZOOM)
        await self.admission.check_not_banned(who)
        parent = await self.get_job(job_id, who)
        edit = self.edit(parent, text)
        source = await self._source_image(parent, index)
        size = _grid_size(parent, source)
        aspect = None
        if edit.aspect is not None and edit.aspect not in _own_aspects(parent, size):
            aspect = edit.aspect
            size = size_for_aspect(*aspect, self.engine.model.defaults.native_size)
        elif value == MIN_ZOOM:
            raise BadParameter(
                "zoom",
                "A zoom of 1.0 at the same aspect ratio would change nothing: choose a "
                "factor above 1.0, or another `--ar`.",
            )
        return await self._zoom(who, parent, source, value, edit, size=size, aspect=aspect)

    async def vary_region(
        self,
        who: Requester,
        job_id: int,
        index: int | None,
        cells: Iterable[int],
        text: str | None = None,
    ) -> Job:
        """Vary (Region): a new grid where only ``cells`` (1..9 of a 3x3 grid, row by
        row) are repainted, with ``text`` as the prompt when given."""
        chosen = tuple(sorted(set(cells)))
        if not chosen:
            raise UserError("Choose at least one part of the image to redraw.")
        if not all(1 <= cell <= REGION_CELLS for cell in chosen):
            raise UserError(f"The parts of the image are numbered 1 to {REGION_CELLS}.")
        await self.admission.check_not_banned(who)
        parent = await self.get_job(job_id, who)
        edit = None if text is None else self.edit(parent, text)
        source = await self._source_image(parent, index)
        if edit is not None:
            _refuse_new_aspect(parent, _grid_size(parent, source), edit, _ONLY_REROLL_AND_ZOOM)
        return await self._grid_from(
            who, parent, source, JobKind.REGION, edit=edit, cells=chosen, tile=None
        )

    async def cancel(self, job_id: int, who: Requester) -> Job:
        """Cancel a queued or running job (its owner or an admin); returns the final row."""
        await self.admission.check_not_banned(who)
        job = await self.get_job(job_id, who)
        if job.user_id != who.user_id and not who.is_admin:
            raise NotAllowed(f"Only the owner of job {job_id} or an admin can cancel it.")
        if job.status.is_final:
            raise UserError(f"Job {job_id} is already {job.status}; there is nothing to cancel.")
        return await self.runner.cancel(job, who)

    # children

    async def _source_image(self, parent: Job, index: int | None) -> ImageRow:
        _refuse_purged(parent)
        if parent.status != JobStatus.DONE:
            raise UnknownJob(
                f"Job {parent.id} has no images to use ({parent.status}); "
                "wait for it to finish or start a new one."
            )
        rows = await self.storage.images(parent.id)
        match = [row for row in rows if row.index == index]
        if not match:
            raise UnknownJob(f"Job {parent.id} has no image {index}.")
        if not await asyncio.to_thread(self.storage.absolute(match[0].path).is_file):
            raise UnknownJob(f"The images of job {parent.id} are no longer kept.")
        return match[0]

    def _child(
        self,
        who: Requester,
        parent: Job,
        kind: JobKind,
        index: int | None,
        seed: int,
        edit: Edit | None = None,
        **changes: Any,
    ) -> NewJob:
        params = parent.params
        prompt, negative = parent.prompt, parent.negative
        if edit is not None:
            prompt, negative = edit.prompt, edit.negative
            params = params.but(
                steps=edit.steps, guidance=edit.guidance, tile=edit.tile or None, negative_from=None
            )
            seed = seed if edit.seed is None else edit.seed
        return NewJob(
            kind=kind,
            user_id=who.user_id,
            guild_id=who.guild_id,
            channel_id=who.channel_id,
            prompt=prompt,
            negative=negative,
            seed=seed,
            params=params.but(model=self.runner.model_name, **changes),
            parent_id=parent.id,
            parent_index=index,
        )

    async def _admit(self, who: Requester, new: NewJob, edit: Edit | None) -> Job:
        # An edited text is the user's own, and a blocked word in it is pointed out as such.
        sources = PARENT_TEXTS if edit is None else (Text.PROMPT, Text.NEGATIVE)
        return await self.admission.admit(who, new, sources=sources)

    async def _reroll(self, who: Requester, parent: Job, edit: Edit | None = None) -> Job:
        _refuse_purged(parent)
        changes: dict[str, Any] = {}
        p = parent.params
        size = (p.base_width or p.width, p.base_height or p.height)
        from_image = p.source_job is not None or p.image_weight is not None
        if edit is not None and from_image:
            # A reroll of a job made from an image keeps the image's shape.
            why = f"job {parent.id}'s images, which start from an image"
            _refuse_new_aspect(parent, size, edit, why)
        elif edit is not None and edit.aspect is not None:
            # New images from the text alone: the shape may change too.
            width, height = size_for_aspect(*edit.aspect, self.engine.model.defaults.native_size)
            changes = {
                "aspect": f"{edit.aspect[0]}:{edit.aspect[1]}",
                "width": width,
                "height": height,
                "base_width": width,
                "base_height": height,
            }
        if p.image_weight is not None:  # the same image prompt, from the parent's folder
            changes["image_from"] = p.image_from or parent.id
        seed = secrets.randbelow(2**32)
        new = self._child(who, parent, JobKind.REROLL, None, seed, edit, **changes)
        return await self._admit(who, new, edit)

    async def _grid_from(
        self,
        who: Requester,
        parent: Job,
        source: ImageRow,
        kind: JobKind,
        size: tuple[int, int] | None = None,
        *,
        edit: Edit | None = None,
        **changes: Any,
    ) -> Job:
        """A new grid of four from one image, with a new seed; at ``size``, or at the size
        of the grid the image came from (also for an upscaled image)."""
        width, height = size or _grid_size(parent, source)
        # Nothing of how the parent was made carries over but the prompt and its settings.
        changes = {
            "strength": 1.0,
            "mode": None,
            "factor": None,
            "direction": None,
            "cells": None,
            "image_weight": None,
            "image_from": None,
            **changes,
        }
        new = self._child(
            who,
            parent,
            kind,
            source.index,
            secrets.randbelow(2**32),
            edit,
            width=width,
            height=height,
            base_width=width,
            base_height=height,
            num_images=GRID_SIZE,
            source_job=parent.id,
            source_index=source.index,
            **changes,
        )
        return await self._admit(who, new, edit)

    async def _vary(
        self,
        who: Requester,
        parent: Job,
        source: ImageRow,
        strength: float,
        edit: Edit | None = None,
    ) -> Job:
        steps = parent.params.steps if edit is None else edit.steps
        return await self._grid_from(
            who,
            parent,
            source,
            JobKind.VARIATION,
            edit=edit,
            strength=strength,
            steps=_steps_for(steps, strength),
            mode="strong" if strength == STRONG_VARIATION else "subtle",
        )

    async def _upscale(
        self, who: Requester, parent: Job, source: ImageRow, *, creative: bool
    ) -> Job:
        # Both kinds stop at MAX_UPSCALE_SIDE (SDXL at --ar 4:1 would otherwise be 4096 px).
        side = self.limits.max_upscale_side
        factor = min(UPSCALE_FACTOR, side / max(source.width, source.height))
        width, height = scaled_size(source.width, source.height, factor)
        if width <= source.width or height <= source.height:
            raise UserError(
                f"This image is already {source.width}x{source.height}, at the largest "
                f"size I make ({side} px on its longer side)."
            )
        strength = CREATIVE_UPSCALE_STRENGTH if creative else UPSCALE_STRENGTH
        new = self._child(
            who,
            parent,
            JobKind.UPSCALE,
            source.index,
            source.seed,
            width=width,
            height=height,
            num_images=1,
            strength=strength,
            steps=_steps_for(parent.params.steps, strength),
            mode="creative" if creative else "standard",
            factor=None,
            direction=None,
            cells=None,
            image_weight=None,
            image_from=None,
            source_job=parent.id,
            source_index=source.index,
        )
        return await self.admission.admit(who, new)

    async def _zoom(
        self,
        who: Requester,
        parent: Job,
        source: ImageRow,
        factor: float,
        edit: Edit | None = None,
        *,
        size: tuple[int, int] | None = None,
        aspect: tuple[int, int] | None = None,
    ) -> Job:
        # As Midjourney does: the canvas is the size of the grid images the image came
        # from (or, for Custom Zoom with another --ar, of that aspect); the image shrinks
        # into its middle and the border is painted.
        changes: dict[str, Any] = {"factor": factor, "tile": None}  # a border breaks a tile
        if aspect is not None:
            changes["aspect"] = f"{aspect[0]}:{aspect[1]}"
        return await self._grid_from(who, parent, source, JobKind.ZOOM, size, edit=edit, **changes)

    async def _pan(
        self,
        who: Requester,
        parent: Job,
        source: ImageRow,
        direction: str,
        edit: Edit | None = None,
    ) -> Job:
        width, height = pan_size(_grid_size(parent, source), direction)  # type: ignore[arg-type]
        side = self.limits.max_upscale_side
        if max(width, height) > side:
            raise UserError(
                f"Panning {direction} would make this image {width}x{height}, past the "
                f"largest size I make ({side} px on its longer side)."
            )
        return await self._grid_from(
            who,
            parent,
            source,
            JobKind.PAN,
            (width, height),
            edit=edit,
            direction=direction,
            tile=None,
        )


def _grid_size(parent: Job, source: ImageRow) -> tuple[int, int]:
    """The size of the grid images ``source`` descends from."""
    return (
        parent.params.base_width or source.width,
        parent.params.base_height or source.height,
    )


def _source_png(picture: Image.Image, size: tuple[int, int]) -> bytes:
    """The image prompt cover-cropped to the job's size, as the job keeps it."""
    return encode_png(fitted(picture, size), {"Software": "imaginebot"})


def _ratio(width: int, height: int) -> tuple[int, int]:
    divisor = math.gcd(width, height)
    return width // divisor, height // divisor


def _own_aspects(parent: Job, size: tuple[int, int]) -> set[tuple[int, int]]:
    """The ``--ar`` values that keep a job's shape: the one it was asked with (16:9 is
    made 1344x768 on SDXL) and its size's exact ratio."""
    own = {_ratio(*size)}
    asked = _aspect(parent.params.aspect)
    if asked is not None:
        own.add(asked)
    return own


def _refuse_new_aspect(parent: Job, size: tuple[int, int], edit: Edit, why: str) -> None:
    """An edited ``--ar`` that is not the shape of ``parent``'s images (``size``): they
    cannot change shape here, ``why`` says so."""
    if edit.aspect is None or edit.aspect in _own_aspects(parent, size):
        return
    raise BadParameter(
        "--ar",
        f"`--ar {edit.aspect[0]}:{edit.aspect[1]}` would change the shape of {why}. "
        "Remove `--ar` or keep the image's own.",
    )


# The refusals of ``_refuse_new_aspect``: where an image keeps its shape, and why.
_ONLY_REROLL_AND_ZOOM = "this image; the aspect ratio can change only with 🔄 and Custom Zoom"


def _refuse_purged(job: Job) -> None:
    if job.purged_at is not None:
        raise UnknownJob(f"The images of job {job.id} were removed by an admin.")


def _aspect(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    width, height = value.split(":")
    return int(width), int(height)


def _steps_for(steps: int, strength: float) -> int:
    """Enough steps that image-to-image runs at least one (turbo: steps x strength >= 1)."""
    return max(int(steps), math.ceil(1 / strength - 1e-9))


def scaled_size(width: int, height: int, factor: float, multiple: int = 8) -> tuple[int, int]:
    """``width`` x ``height`` scaled by at most ``factor``, both sides multiples of
    ``multiple`` (the VAE's), keeping the exact aspect ratio when any such size fits."""
    divisor = math.gcd(width, height)
    a, b = width // divisor, height // divisor
    # (a*m, b*m) has both sides multiples of ``multiple`` when m is a multiple of step.
    step = math.lcm(multiple // math.gcd(multiple, a), multiple // math.gcd(multiple, b))
    m = int(min(width, height) * factor / min(a, b) // step * step)
    if m * min(a, b) > min(width, height):  # a bigger size that keeps the ratio exactly
        return a * m, b * m
    # No exact size is bigger: round each side down on its own.
    return (
        max(multiple, int(width * factor) // multiple * multiple),
        max(multiple, int(height * factor) // multiple * multiple),
    )

"""New jobs from requests: a parsed ``/imagine`` prompt, or a button or form under a result.

Pure functions, no I/O: each returns the ``NewJob`` (its recipe, how it is drawn, its seed)
or refuses with a message for the member. ``core.jobs`` checks who asks and reads the
parent; admission commits what comes out.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import BadParameter, UserError
from core.model import ImageRow, Job, JobParams, NewJob, Requester
from core.prompt import ParsedPrompt
from core.recipes import (
    Enhance,
    ImagePrompt,
    ImageRef,
    Imagine,
    Pan,
    Recipe,
    Region,
    Reroll,
    Size,
    Upscale,
    Variation,
    ZoomOut,
    made,
    starts_from,
)
from core.references import carried
from core.sizes import size_for_aspect
from engine import GRID_SIZE, pan_size

if TYPE_CHECKING:
    from engine import FamilyDefaults

UPSCALE_FACTOR = 2


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
    chaos: int = 0


def refuse_unsupported(
    prompts: list[ParsedPrompt], defaults: FamilyDefaults, alias: str = ""
) -> None:
    """What the model's family cannot do is refused, naming the family, rather than
    ignored: a ``--no`` where it takes no negative prompt (FLUX.1: no second,
    unconditional pass to steer away from it), ``--tile`` where its layers do not wrap
    around (the diffusion transformers)."""
    family = defaults.family
    model = f"The model `{alias}` ({family})" if alias else f"This bot's model ({family})"
    if not defaults.negative and any(parsed.negative is not None for parsed in prompts):
        raise BadParameter(
            "--no",
            f"{model} takes no negative prompt: describe what you want instead, and remove `--no`.",
        )
    if not defaults.chaos and any(parsed.chaos for parsed in prompts):
        raise BadParameter(
            "--chaos",
            f"{model} cannot take `--chaos` (its starting noise is not a picture's "
            "grid of pixels): remove `--chaos`.",
        )
    if not defaults.tile and any(parsed.tile for parsed in prompts):
        raise BadParameter(
            "--tile",
            f"{model} cannot make seamless tiles (its attention does not "
            "wrap around the edges): remove `--tile`.",
        )


def edit_of(parent: Job, parsed: ParsedPrompt, max_steps: int) -> Edit:
    """A form's parsed text as an ``Edit``; what it leaves out is the parent's, but for the
    negative: a ``--no`` removed from the form is no negative."""
    steps = parsed.steps if parsed.steps is not None else parent.params.steps
    cfg = parsed.cfg if parsed.cfg is not None else parent.params.guidance
    return Edit(
        prompt=parsed.prompt,
        negative=parsed.negative or "",
        steps=min(int(steps), max_steps),
        guidance=float(cfg),
        seed=parsed.seed,
        aspect=parsed.aspect,
        tile=parsed.tile,
        chaos=parsed.chaos or 0,
    )


def imagine(
    who: Requester,
    parsed: ParsedPrompt,
    negative: str,
    seed: int,
    params: JobParams,
    image: ImagePrompt | None,
    source_png: bytes | None = None,
) -> NewJob:
    """The job of one /imagine prompt at ``params`` (its steps raised so that an image
    prompt's strength runs at least one); ``source_png``: the image prompt as the job
    keeps it."""
    recipe = Imagine(image)
    return NewJob(
        user_id=who.user_id,
        guild_id=who.guild_id,
        channel_id=who.channel_id,
        prompt=parsed.prompt,
        negative=negative,
        seed=seed,
        params=params.but(steps=steps_for(params.steps, recipe.strength)),
        recipe=recipe,
        source_png=source_png,
        mode=parsed.mode,
    )


def imagine_params(
    who: Requester,
    parsed: ParsedPrompt,
    negative: str,
    mine: dict[str, Any],
    own_aspect: tuple[int, int] | None,
    defaults: FamilyDefaults,
    max_steps: int,
) -> JobParams:
    """How one /imagine prompt's images are drawn: the prompt's own parameters win; then
    the member's /settings (``mine``); then the model's ``defaults``. ``own_aspect``: an
    image prompt's shape, unless ``--ar`` says another."""
    if own_aspect is not None:
        aspect = parsed.aspect or own_aspect
    else:
        aspect = parsed.aspect or aspect_of(mine.get("aspect")) or (1, 1)
    # A draft: half the side and about half the steps (its full steps kept for E1-E4).
    native = defaults.native_size // 2 if parsed.draft else defaults.native_size
    width, height = size_for_aspect(*aspect, native)
    steps = next(v for v in (parsed.steps, mine.get("steps"), defaults.steps) if v is not None)
    full = min(int(steps), max_steps)
    cfg = next(v for v in (parsed.cfg, mine.get("cfg"), defaults.guidance) if v is not None)
    return JobParams(
        aspect=f"{aspect[0]}:{aspect[1]}",
        width=width,
        height=height,
        steps=max(1, round(full / 2)) if parsed.draft else full,
        draft=full if parsed.draft else 0,
        guidance=float(cfg),
        num_images=GRID_SIZE,
        tile=parsed.tile,
        negative_from=who.user_id if parsed.negative is None and negative else None,
        chaos=parsed.chaos or 0,
    )


def grid_size(parent: Job) -> Size:
    """The size of the grid images ``parent``'s images descend from: an upscale's base,
    else its own size."""
    recipe = parent.recipe
    return recipe.base if isinstance(recipe, Upscale) else parent.params.size


def reroll(who: Requester, parent: Job, model: str, native: int, edit: Edit | None) -> NewJob:
    """🔄: the parent's recipe again with a new seed; with remix, its edited text (a new
    ``--ar`` only for images from text alone)."""
    again = made(parent.recipe)
    if isinstance(again, Upscale | Enhance):  # no such button: a forged or stale custom id
        raise UserError(f"Job {parent.id} is a single image: it has no 🔄.")
    if isinstance(again, Imagine) and again.image is not None and again.image.job is None:
        # The same image prompt, from the parent's folder.
        again = Imagine(ImagePrompt(again.image.weight, parent.id))
    size = grid_size(parent)
    params = parent.params
    if edit is not None and starts_from(again) is not None:
        why = f"job {parent.id}'s images, which start from an image"
        refuse_new_aspect(parent, size, edit, why)
    elif edit is not None and edit.aspect is not None:
        # New images from the text alone: the shape may change too.
        width, height = size_for_aspect(*edit.aspect, native)
        params = params.but(aspect=f"{edit.aspect[0]}:{edit.aspect[1]}", width=width, height=height)
    return _child(who, parent, None, Reroll(again), params, secrets.randbelow(2**32), model, edit)


def variation(
    who: Requester, parent: Job, source: ImageRow, strong: bool, model: str, edit: Edit | None
) -> NewJob:
    """Vary (Strong/Subtle), V1-V4: a new grid close to ``source``."""
    recipe = Variation(_ref(source), "strong" if strong else "subtle")
    return _grid(who, parent, source, recipe, grid_size(parent), model, edit)


def upscale(
    who: Requester, parent: Job, source: ImageRow, creative: bool, model: str, max_side: int
) -> NewJob:
    """U1-U4, Upscale (Creative): ``source`` at twice its size, at most ``max_side`` px a
    side (SDXL at --ar 4:1 would otherwise be 4096 px)."""
    factor = min(UPSCALE_FACTOR, max_side / max(source.width, source.height))
    width, height = scaled_size(source.width, source.height, factor)
    if width <= source.width or height <= source.height:
        raise UserError(
            f"This image is already {source.width}x{source.height}, at the largest "
            f"size I make ({max_side} px on its longer side)."
        )
    recipe = Upscale(_ref(source), grid_size(parent), "creative" if creative else "standard")
    params = parent.params.but(width=width, height=height, num_images=1)
    return _child(who, parent, source.index, recipe, params, source.seed, model)


def zoom_out(
    who: Requester,
    parent: Job,
    source: ImageRow,
    factor: float,
    model: str,
    edit: Edit | None,
    *,
    size: Size | None = None,
    aspect: tuple[int, int] | None = None,
) -> NewJob:
    """Zoom Out, Custom Zoom: as Midjourney does, the canvas is the size of the grid the
    image came from (or, for Custom Zoom with another ``--ar``, ``size`` at ``aspect``);
    the image shrinks into its middle and the border is painted (a border breaks a tile)."""
    recipe = ZoomOut(_ref(source), factor)
    return _grid(
        who, parent, source, recipe, size or grid_size(parent), model, edit, aspect, tile=False
    )


def pan(
    who: Requester,
    parent: Job,
    source: ImageRow,
    direction: str,
    model: str,
    max_side: int,
    edit: Edit | None,
) -> NewJob:
    """A pan: the canvas grown by half a side towards ``direction``, the strip painted."""
    base = grid_size(parent)
    width, height = pan_size(base, direction)  # type: ignore[arg-type]
    if max(width, height) > max_side:
        raise UserError(
            f"Panning {direction} would make this image {width}x{height}, past the "
            f"largest size I make ({max_side} px on its longer side)."
        )
    recipe = Pan(_ref(source), direction, base)  # type: ignore[arg-type]
    return _grid(who, parent, source, recipe, (width, height), model, edit, tile=False)


def region(
    who: Requester,
    parent: Job,
    source: ImageRow,
    cells: tuple[int, ...],
    model: str,
    edit: Edit | None,
) -> NewJob:
    """Vary (Region): a new grid where only ``cells`` are repainted."""
    recipe = Region(_ref(source), cells)
    return _grid(who, parent, source, recipe, grid_size(parent), model, edit, tile=False)


def _ref(source: ImageRow) -> ImageRef:
    return ImageRef(source.job_id, source.index)


def _grid(
    who: Requester,
    parent: Job,
    source: ImageRow,
    recipe: Recipe,
    size: Size,
    model: str,
    edit: Edit | None,
    aspect: tuple[int, int] | None = None,
    *,
    tile: bool | None = None,
) -> NewJob:
    """A new grid of four from one image, with a new seed, at ``size``; nothing of how the
    parent was made carries over but the prompt and its settings (``tile``: False where the
    recipe breaks a tile)."""
    params = parent.params.but(width=size[0], height=size[1], num_images=GRID_SIZE)
    if aspect is not None:
        params = params.but(aspect=f"{aspect[0]}:{aspect[1]}")
    seed = secrets.randbelow(2**32)
    return _child(who, parent, source.index, recipe, params, seed, model, edit, tile=tile)


def _child(
    who: Requester,
    parent: Job,
    index: int | None,
    recipe: Recipe,
    params: JobParams,
    seed: int,
    model: str,
    edit: Edit | None = None,
    *,
    tile: bool | None = None,
) -> NewJob:
    prompt, negative = parent.prompt, parent.negative
    if edit is not None:
        prompt, negative = edit.prompt, edit.negative
        params = params.but(
            steps=edit.steps,
            guidance=edit.guidance,
            tile=edit.tile,
            negative_from=None,
            chaos=edit.chaos,
        )
        seed = seed if edit.seed is None else edit.seed
    if tile is not None:
        params = params.but(tile=tile)
    params = carried(params, parent.id)  # the parent's references, from its folder
    return NewJob(
        user_id=who.user_id,
        guild_id=who.guild_id,
        channel_id=who.channel_id,
        prompt=prompt,
        negative=negative,
        seed=seed,
        params=params.but(model=model, steps=steps_for(params.steps, recipe.strength)),
        recipe=recipe,
        parent_id=parent.id,
        parent_index=index,
    )


def ratio(width: int, height: int) -> tuple[int, int]:
    """``width``:``height`` in lowest terms."""
    divisor = math.gcd(width, height)
    return width // divisor, height // divisor


def aspect_of(value: str | None) -> tuple[int, int] | None:
    """A stored ``--ar`` ("16:9") as numbers."""
    if not value:
        return None
    width, height = value.split(":")
    return int(width), int(height)


def own_aspects(parent: Job, size: Size) -> set[tuple[int, int]]:
    """The ``--ar`` values that keep a job's shape: the one it was asked with (16:9 is
    made 1344x768 on SDXL) and its size's exact ratio."""
    own = {ratio(*size)}
    asked = aspect_of(parent.params.aspect)
    if asked is not None:
        own.add(asked)
    return own


# Why an edited ``--ar`` is refused where an image keeps its shape.
ONLY_REROLL_AND_ZOOM = "this image; the aspect ratio can change only with 🔄 and Custom Zoom"


def refuse_new_aspect(parent: Job, size: Size, edit: Edit, why: str) -> None:
    """An edited ``--ar`` that is not the shape of ``parent``'s images (``size``): they
    cannot change shape here, ``why`` says so."""
    if edit.aspect is None or edit.aspect in own_aspects(parent, size):
        return
    raise BadParameter(
        "--ar",
        f"`--ar {edit.aspect[0]}:{edit.aspect[1]}` would change the shape of {why}. "
        "Remove `--ar` or keep the image's own.",
    )


def steps_for(steps: int, strength: float) -> int:
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

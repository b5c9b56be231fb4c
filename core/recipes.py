"""A job's recipe: what it makes, as one typed value per kind.

``Imagine`` (text to image, or from an image prompt), ``Blend`` (/blend), ``Animate``
and ``Extend`` (clips: ``core.clips``), ``Variation``, ``Upscale``, ``Reroll`` (what
another job made, again with a new seed), ``ZoomOut``, ``Pan`` and ``Region`` (Vary
(Region)). Each is frozen and checked when it is made, names the image it
starts from as one typed reference (``ImageRef``: an image of a job; ``ImagePrompt``: an
uploaded image kept in a job's folder), and is stored in the job's row as JSON with a
``kind`` tag (``to_json`` / ``from_json``; migration 0010 rewrote the rows of older
versions). How the images are drawn (size, steps, guidance, model) is the job's
``JobParams``, the same for every kind.

Each limit lives once, here or in the engine it comes from; ``paint`` derives the engine's
description of what to paint in one function. Adding a kind means one type here, added to
``Recipe`` and ``_KINDS``, and the places the type checker points to: the exhaustive
matches (``paint``, the text under a result in ``bot/discord_app/text.py``) fail mypy
(``.ci/run``) until the new kind has its case; then the request that makes it
(``core/derive.py``, ``core/jobs.py``) and its button.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, assert_never

from core.image_prompt import image_strength
from core.prompt import MAX_IMAGE_WEIGHT
from engine.types import (
    GRID_SIZE,
    MAX_BLEND_IMAGES,
    MAX_ZOOM,
    MIN_ZOOM,
    PAN_DIRECTIONS,
    REGION_CELLS,
    Paint,
)

STRONG_VARIATION = 0.7
SUBTLE_VARIATION = 0.35
UPSCALE_STRENGTH = 0.3
CREATIVE_UPSCALE_STRENGTH = 0.4
ENHANCE_STRENGTH = 0.55  # E1-E4: a draft redrawn at full size, its composition kept

Size = tuple[int, int]
Motion = Literal["low", "high"]
VariationMode = Literal["strong", "subtle"]
UpscaleMode = Literal["standard", "creative"]
Direction = Literal["left", "right", "up", "down"]


class RecipeError(ValueError):
    """A recipe that cannot be made: a bug, or a row edited by hand (never a user's input:
    requests are checked, with messages for people, before a recipe is made)."""


def _check(ok: bool, problem: str) -> None:
    if not ok:
        raise RecipeError(problem)


def _check_size(size: Size, what: str) -> None:
    _check(
        len(size) == 2 and all(isinstance(s, int) and s >= 8 and s % 8 == 0 for s in size),
        f"{what} must be two multiples of 8 (got {size!r})",
    )


@dataclass(frozen=True, slots=True)
class ImageRef:
    """Image ``index`` (1-based) of job ``job``: the image a recipe starts from."""

    job: int
    index: int

    def __post_init__(self) -> None:
        _check(self.job >= 1, f"a source job id is at least 1 (got {self.job!r})")
        _check(1 <= self.index <= GRID_SIZE, f"an image index is 1..{GRID_SIZE}")


@dataclass(frozen=True, slots=True)
class ImagePrompt:
    """An uploaded image, kept (fitted to the job's size) in the folder of job ``job``, and
    how closely the images follow it (``--iw``). ``job`` None: the job's own folder (a new
    ``/imagine``, whose id is not known until its row exists)."""

    weight: float
    job: int | None = None

    def __post_init__(self) -> None:
        _check(
            0 <= self.weight <= MAX_IMAGE_WEIGHT,
            f"an image weight is 0..{MAX_IMAGE_WEIGHT:g} (got {self.weight!r})",
        )
        _check(self.job is None or self.job >= 1, f"an image's job id is at least 1 ({self.job})")


@dataclass(frozen=True, slots=True)
class Imagine:
    """A grid from the prompt, or from the prompt and an image prompt."""

    KIND: ClassVar[str] = "imagine"
    image: ImagePrompt | None = None

    @property
    def strength(self) -> float:
        """How far from its source the sampler goes (1.0: text to image)."""
        return 1.0 if self.image is None else image_strength(self.image.weight)


@dataclass(frozen=True, slots=True)
class Blend:
    """/blend: a grid that merges ``images`` (2..5) images, kept as the job's references
    (``JobParams.references``), with no text."""

    KIND: ClassVar[str] = "blend"
    images: int = 2

    def __post_init__(self) -> None:
        _check(2 <= self.images <= MAX_BLEND_IMAGES, f"a blend merges 2..{MAX_BLEND_IMAGES} images")

    @property
    def strength(self) -> float:
        """From noise: the images steer it through the adapter."""
        return 1.0


@dataclass(frozen=True, slots=True)
class Variation:
    """Vary (Strong) or Vary (Subtle): a grid close to one image."""

    KIND: ClassVar[str] = "variation"
    source: ImageRef
    mode: VariationMode = "strong"

    def __post_init__(self) -> None:
        _check(self.mode in ("strong", "subtle"), f"a variation is strong or subtle ({self.mode})")

    @property
    def strength(self) -> float:
        """How far from its source the sampler goes."""
        return STRONG_VARIATION if self.mode == "strong" else SUBTLE_VARIATION


@dataclass(frozen=True, slots=True)
class Upscale:
    """U1-U4 and Upscale (Creative): one image at twice the size (at most the largest
    side). ``base``: the size of the grid it descends from, at which its variations, zooms
    and pans are made."""

    KIND: ClassVar[str] = "upscale"
    source: ImageRef
    base: Size
    mode: UpscaleMode = "standard"

    def __post_init__(self) -> None:
        modes = ("standard", "creative")
        _check(self.mode in modes, f"an upscale is standard or creative ({self.mode})")
        _check_size(self.base, "an upscale's base size")

    @property
    def strength(self) -> float:
        """How far from its source the sampler goes."""
        return CREATIVE_UPSCALE_STRENGTH if self.mode == "creative" else UPSCALE_STRENGTH


@dataclass(frozen=True, slots=True)
class Enhance:
    """E1-E4 on a draft grid: image ``source`` at full quality (the model's full size
    and steps), its prompt and seed, one image, redrawn from the draft's image enlarged
    (image-to-image at ``ENHANCE_STRENGTH``), so that it stays the image chosen: from text
    alone at another size, the same seed gives another picture."""

    KIND: ClassVar[str] = "enhance"
    source: ImageRef

    @property
    def strength(self) -> float:
        """How far from the draft's image the sampler goes: enough to redraw its detail
        at full size and steps, not its composition."""
        return ENHANCE_STRENGTH


@dataclass(frozen=True, slots=True)
class ZoomOut:
    """Zoom Out and Custom Zoom: the source shrunk by ``factor`` into the middle of the
    job's canvas, the border painted."""

    KIND: ClassVar[str] = "zoom"
    source: ImageRef
    factor: float = 2.0

    def __post_init__(self) -> None:
        _check(
            MIN_ZOOM <= self.factor <= MAX_ZOOM,
            f"a zoom factor is {MIN_ZOOM:g}..{MAX_ZOOM:g} (got {self.factor!r})",
        )

    @property
    def strength(self) -> float:
        """The border is painted from noise."""
        return 1.0


@dataclass(frozen=True, slots=True)
class Pan:
    """A pan: the source at ``base`` size on a canvas grown by half a side towards
    ``direction`` (the job's size), the new strip painted."""

    KIND: ClassVar[str] = "pan"
    source: ImageRef
    direction: Direction
    base: Size

    def __post_init__(self) -> None:
        _check(self.direction in PAN_DIRECTIONS, f"a pan goes {', '.join(PAN_DIRECTIONS)}")
        _check_size(self.base, "a pan's base size")

    @property
    def strength(self) -> float:
        """The new strip is painted from noise."""
        return 1.0


@dataclass(frozen=True, slots=True)
class Region:
    """Vary (Region): the chosen ``cells`` (1..9 of a 3x3 grid, row by row) repainted."""

    KIND: ClassVar[str] = "region"
    source: ImageRef
    cells: tuple[int, ...]

    def __post_init__(self) -> None:
        last = REGION_CELLS**2
        _check(
            bool(self.cells) and all(1 <= c <= last for c in self.cells),
            f"region cells are 1..{last}, at least one (got {self.cells!r})",
        )
        _check(list(self.cells) == sorted(set(self.cells)), "region cells are sorted, once each")

    @property
    def strength(self) -> float:
        """The cells are painted from noise."""
        return 1.0


@dataclass(frozen=True, slots=True)
class Animate:
    """Animate (Low/High motion), or /imagine --video: a clip that starts from ``source``
    (an image of a job, or an uploaded image kept with the job), with ``motion``; it
    ends on its first frame (``loop``) or on ``end``, an image of a job."""

    KIND: ClassVar[str] = "animate"
    source: ImageRef | ImagePrompt
    motion: Motion = "low"
    loop: bool = False
    end: ImageRef | None = None

    def __post_init__(self) -> None:
        _check(self.motion in ("low", "high"), f"motion is low or high ({self.motion})")
        _check(not (self.loop and self.end is not None), "a clip loops or has an end, not both")

    @property
    def strength(self) -> float:
        """A clip is drawn from noise, its frames conditioned on the images."""
        return 1.0


@dataclass(frozen=True, slots=True)
class Extend:
    """Extend (Low/High motion): the clip of job ``clip`` continued by about four
    seconds, its last frames the new clip's start."""

    KIND: ClassVar[str] = "extend"
    clip: int
    motion: Motion = "low"

    def __post_init__(self) -> None:
        _check(self.clip >= 1, f"a clip's job id is at least 1 (got {self.clip!r})")
        _check(self.motion in ("low", "high"), f"motion is low or high ({self.motion})")

    @property
    def strength(self) -> float:
        """A clip is drawn from noise, its first frames conditioned on the last ones."""
        return 1.0


# What 🔄 can make again: the grids (an upscaled image has no 🔄).
Again = Imagine | Blend | Variation | ZoomOut | Pan | Region | Animate | Extend


@dataclass(frozen=True, slots=True)
class Reroll:
    """🔄: ``again`` made again with a new seed (a reroll of a reroll reruns the first)."""

    KIND: ClassVar[str] = "reroll"
    again: Again

    def __post_init__(self) -> None:
        _check(isinstance(self.again, Again), f"a reroll makes a grid again (got {self.again!r})")

    @property
    def strength(self) -> float:
        """As the recipe it reruns."""
        return self.again.strength


Recipe = (
    Imagine | Blend | Variation | Upscale | Reroll | ZoomOut | Pan | Region | Animate | Extend
    | Enhance
)  # fmt: skip
_KINDS: dict[str, type[Recipe]] = {
    kind.KIND: kind
    for kind in (
        Imagine, Blend, Variation, Upscale, Reroll, ZoomOut, Pan, Region, Animate, Extend, Enhance
    )
}  # fmt: skip
CLIP_KINDS = (Animate, Extend)  # what makes a clip rather than images
KINDS = tuple(_KINDS)  # the tags, as the jobs table's kind column holds them


def made(recipe: Recipe) -> Again | Upscale | Enhance:
    """What a recipe makes: a reroll's recipe, or itself."""
    return recipe.again if isinstance(recipe, Reroll) else recipe


def starts_from(recipe: Recipe) -> ImageRef | ImagePrompt | None:
    """The image a recipe starts from (None: text to image, or a clip's continuation)."""
    recipe = made(recipe)
    if isinstance(recipe, Blend | Extend):
        return None
    return recipe.image if isinstance(recipe, Imagine) else recipe.source


def paint(recipe: Recipe) -> Paint | None:
    """What the engine paints over the source (None: no mask): a zoom, a pan or a region,
    also when a reroll makes one again."""
    what = made(recipe)
    match what:
        case ZoomOut(factor=factor):
            return Paint("zoom", factor=factor)
        case Pan(direction=direction, base=base):
            return Paint("pan", direction=direction, base=base)
        case Region(cells=cells):
            return Paint("region", cells=cells)
        case Imagine() | Blend() | Variation() | Upscale() | Animate() | Extend() | Enhance():
            return None
        case _:  # a new kind: the type checker points here (mypy, in .ci/run)
            assert_never(what)


# JSON: the fields by name, images and sizes as objects and lists, with the kind's tag.


def to_json(recipe: Recipe) -> str:
    """The row's text: ``{"kind": ..., field: value, ...}``, keys sorted."""
    return json.dumps(_encode(recipe), sort_keys=True)


def from_json(text: str) -> Recipe:
    """A row's text back (``RecipeError`` when it is not a recipe this version knows)."""
    try:
        return _decode(json.loads(text))
    except RecipeError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RecipeError(f"not a recipe: {text[:200]!r} ({exc})") from exc


def _encode(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        encoded = {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
        kind = getattr(type(value), "KIND", None)
        return encoded if kind is None else {"kind": kind, **encoded}
    return value


def _decode(values: dict[str, Any]) -> Recipe:
    kind = _KINDS.get(values.pop("kind", None))  # type: ignore[arg-type]
    _check(kind is not None, f"unknown recipe kind in {values!r}")
    assert kind is not None
    decoded: dict[str, Any] = {}
    for name, value in values.items():
        if name == "again":
            value = _decode(value)
        elif name == "source":
            value = ImagePrompt(**value) if "weight" in value else ImageRef(**value)
        elif name == "end" and value is not None:
            value = ImageRef(**value)
        elif name == "image" and value is not None:
            value = ImagePrompt(**value)
        elif isinstance(value, list):
            value = tuple(value)
        decoded[name] = value
    return kind(**decoded)

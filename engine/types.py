"""Plain values that cross from the service into the engine and back."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.video import ClipPlan

GRID_SIZE = 4  # images in a grid (2x2)


PAINT_KINDS = ("zoom", "pan", "region")
PAN_DIRECTIONS = ("left", "right", "up", "down")
MIN_ZOOM, MAX_ZOOM = 1.0, 2.0  # a zoom out's factor: Zoom Out 1.5x/2x, Custom Zoom
REGION_CELLS = 3  # Vary (Region): a 3x3 grid of cells, numbered 1..9 row by row
MAX_LORAS = 3  # --lora, per prompt
MAX_CHAOS = 100  # --chaos
MIN_LORA_WEIGHT, MAX_LORA_WEIGHT = 0.0, 2.0
# Image references through an IP-Adapter (engine.references): --sref (style: the style
# layers only), --oref (omni: the Plus adapter, every layer) and /blend (every image, every
# layer, no text).
REFERENCE_ROLES = ("style", "omni", "blend")
MAX_STYLE_REFERENCES, MAX_OMNI_REFERENCES, MAX_BLEND_IMAGES = 4, 1, 5


def render_problems(width: object, height: object, steps: object, guidance: object) -> list[str]:
    """What keeps a pipeline from drawing at this size, with these steps and guidance, as
    sentences (empty when it can): the one statement of those limits, for the engine's
    specs and the jobs that become them."""
    problems = []
    for name, side in (("width", width), ("height", height)):
        if not isinstance(side, int) or side < 8 or side % 8:
            problems.append(f"{name} must be a multiple of 8, at least 8 (got {side!r})")
    if not isinstance(steps, int) or steps < 1:
        problems.append(f"steps must be at least 1 (got {steps!r})")
    if not isinstance(guidance, int | float) or not math.isfinite(guidance) or guidance < 0:
        problems.append(f"guidance must be a finite number >= 0 (got {guidance!r})")
    return problems


@dataclass(frozen=True, slots=True)
class Paint:
    """Which part of the source to paint (``engine.canvas``): ``zoom`` out by ``factor``
    (MIN_ZOOM..MAX_ZOOM), ``pan`` towards ``direction`` with the source at ``base`` size,
    or repaint the ``cells`` (1..9) of a 3x3 grid. The worker builds the canvas and mask
    from the source file, so a job needs no file of its own to run again after a restart."""

    kind: str
    factor: float = 2.0
    direction: str = ""
    cells: tuple[int, ...] = ()
    base: tuple[int, int] | None = None  # a pan's: the size the source keeps

    def problems(self) -> list[str]:
        """What is wrong with it, as sentences (empty when it can run)."""
        last = REGION_CELLS**2
        if self.kind not in PAINT_KINDS:
            return [f"paint kind must be one of {', '.join(PAINT_KINDS)} (got {self.kind!r})"]
        if self.kind == "zoom" and not MIN_ZOOM <= self.factor <= MAX_ZOOM:
            return [f"the zoom factor must be from {MIN_ZOOM} to {MAX_ZOOM} (got {self.factor!r})"]
        if self.kind == "pan" and self.direction not in PAN_DIRECTIONS:
            return [f"pan direction must be one of {', '.join(PAN_DIRECTIONS)}"]
        if self.kind == "pan" and self.base is None:
            return ["a pan needs the size its source keeps (base)"]
        if self.kind == "pan":
            return render_problems(*self.base, 1, 0.0)  # type: ignore[misc]
        if self.kind == "region" and (
            not self.cells or not all(1 <= c <= last for c in self.cells)
        ):
            return [f"region cells are 1..{last}, at least one (got {self.cells!r})"]
        return []


@dataclass(frozen=True, slots=True)
class Reference:
    """An image the job's images take after, through the family's IP-Adapter: its
    ``role`` (``REFERENCE_ROLES``), its file (read on the worker) and the adapter's
    ``scale`` for it (0: no effect; the same for every reference of one role)."""

    role: str
    path: Path
    scale: float = 1.0


def reference_problems(references: tuple[Reference, ...]) -> list[str]:
    """What is wrong with a job's references, as sentences (empty when they can run)."""
    problems = []
    roles = [reference.role for reference in references]
    if any(role not in REFERENCE_ROLES for role in roles):
        problems.append(f"reference roles are {', '.join(REFERENCE_ROLES)} (got {roles!r})")
    if any(not 0 <= reference.scale <= 1 for reference in references):
        problems.append("reference scales are 0..1")
    for role in set(roles):
        if len({reference.scale for reference in references if reference.role == role}) > 1:
            problems.append(f"the {role} references must share one scale")
    limits = {"style": MAX_STYLE_REFERENCES, "omni": MAX_OMNI_REFERENCES, "blend": MAX_BLEND_IMAGES}
    for role, most in limits.items():
        if roles.count(role) > most:
            problems.append(f"at most {most} {role} reference(s) (got {roles.count(role)})")
    if "blend" in roles and len(set(roles)) > 1:
        problems.append("a blend takes no style or omni reference")
    return problems


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Everything the engine needs to run one job, and nothing Discord-specific.

    Text-to-image when ``source_image`` is None; otherwise image-to-image from that file
    at ``strength``, with the source first resized to ``width`` x ``height``; with a
    ``mask_image`` too (``L``, 255 paints) or a ``paint`` (zoom, pan, region: the canvas
    and mask are built from the source), inpainting: only the masked part is painted and
    the source is kept exactly where the mask is 0 (``engine.canvas``). For a pan,
    ``width`` x ``height`` is the grown canvas.
    """

    job_id: int
    prompt: str
    negative: str
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    num_images: int = GRID_SIZE
    source_image: Path | None = None
    strength: float = 1.0
    mask_image: Path | None = None
    paint: Paint | None = None  # built on the worker from the source; see ``Paint``
    tile: bool = False  # seamless: circular padding for this call (``engine.tiling``)
    owner: int = 0  # whose job it is: the scheduler shares the GPU fairly among owners
    model: str = ""  # the model's alias ("": the engine's default)
    loras: tuple[tuple[str, float], ...] = ()  # LoRAs by name, with their weights
    chaos: int = 0  # 0..MAX_CHAOS: the starting noise's large shapes (engine.chaos)
    references: tuple[Reference, ...] = ()  # IP-Adapter images (engine.references)
    clip: ClipPlan | None = None  # a clip (engine.video): a call of its own, never fused
    relax: bool = False  # relax mode: it runs when no fast job waits (engine.scheduler)

    def __post_init__(self) -> None:
        """Refuse a spec the pipeline cannot run, here on the loop with a clear message,
        rather than deep in diffusers on the worker thread (as ``check_inputs`` does)."""
        problems = render_problems(self.width, self.height, self.steps, self.guidance)
        if not 0 <= self.seed < 2**32:
            problems.append(f"seed must be in 0..2**32-1 (got {self.seed!r})")
        if not isinstance(self.num_images, int) or self.num_images < 1:
            problems.append(f"num_images must be at least 1 (got {self.num_images!r})")
        if self.source_image is not None and not 0 < self.strength <= 1:
            problems.append(f"strength must be in (0, 1] (got {self.strength!r})")
        if (self.mask_image or self.paint) is not None and self.source_image is None:
            problems.append("a mask needs a source image to paint on")
        if self.paint is not None:
            problems.extend(self.paint.problems())
        if not isinstance(self.chaos, int) or not 0 <= self.chaos <= MAX_CHAOS:
            problems.append(f"chaos must be 0..{MAX_CHAOS} (got {self.chaos!r})")
        if len(self.loras) > MAX_LORAS or len({name for name, _ in self.loras}) < len(self.loras):
            problems.append(f"at most {MAX_LORAS} LoRAs, each once (got {self.loras!r})")
        if not all(MIN_LORA_WEIGHT <= weight <= MAX_LORA_WEIGHT for _, weight in self.loras):
            problems.append(
                f"LoRA weights are {MIN_LORA_WEIGHT:g}..{MAX_LORA_WEIGHT:g} (got {self.loras!r})"
            )
        problems.extend(reference_problems(self.references))
        if self.clip is not None:
            problems.extend(self.clip.problems())
        if self.source_image is not None and self.denoising_steps < 1:
            problems.append("steps x strength must be at least 1 (no step would run)")
        if problems:
            raise ValueError(f"job {self.job_id}: " + "; ".join(problems))

    @property
    def shape(self) -> tuple:
        """Jobs of one shape can share a pipeline call (each keeps its prompts and seeds).

        Whether a negative prompt is given is part of it: SDXL encodes "no negative
        prompt" as zeros, which a fused call could not keep apart from an empty one. So
        are the model and its LoRAs: a call runs one model with one set of adapters; and
        its references (an IP-Adapter's images and scales are the call's).
        """
        if self.clip is not None:
            return ("clip", self.job_id)
        image_to_image = self.source_image is not None
        return (
            image_to_image,
            self.mask_image is not None or self.paint is not None,
            self.width,
            self.height,
            self.steps,
            round(self.guidance, 6),
            round(self.strength, 6) if image_to_image else None,
            bool(self.negative),
            self.tile,  # padding is per call: tiled and untiled jobs never share one
            self.model,
            self.loras,
            self.chaos if image_to_image is False else 0,
            tuple((r.role, str(r.path), round(r.scale, 6)) for r in self.references),
        )

    @property
    def seeds(self) -> list[int]:
        """Seed of each image: seed, seed+1, ... (wrapping at 2**32 like the seed range)."""
        return [(self.seed + k) % 2**32 for k in range(self.num_images)]

    @property
    def denoising_steps(self) -> int:
        """The number of steps the sampler really runs (image-to-image runs a fraction)."""
        if self.source_image is None:
            return self.steps
        return int(self.steps * self.strength)


@dataclass(frozen=True, slots=True)
class Progress:
    """A step finished on the worker."""

    job_id: int
    step: int
    total: int
    preview: Any = None  # a small PIL image decoded cheaply from the latents, now and then
    preview_nsfw: bool = False  # the NSFW classifier flagged the preview (when one runs)

    @property
    def fraction(self) -> float:
        """Done so far, 0..1."""
        return self.step / self.total if self.total else 0.0


@dataclass(slots=True)
class JobOutput:
    """The images a job produced, in order (PIL images), and how long the GPU took."""

    job_id: int
    images: list = field(default_factory=list)
    seconds: float = 0.0
    nsfw: list[bool] = field(default_factory=list)  # the classifier's verdicts, if one runs
    # A clip's frames (uint8, frames x height x width x 3) and rate; ``images`` then holds
    # about one frame a second (what the NSFW classifier looks at).
    clip: Any = None
    fps: int = 0
    gpu_seconds: float = 0.0  # from a Ray replica: its job's device seconds (JobHandle's)


@dataclass(frozen=True, slots=True)
class WorkerState:
    """One worker as /info shows it to admins: its device (or replica), whether it still
    serves, and why not when it does not; and what the metrics read of it (``bot.metrics``):
    its seconds in pipeline calls and the models brought onto its device, since it started."""

    name: str
    up: bool
    error: str = ""
    busy_seconds: float = 0.0
    swaps: int = 0

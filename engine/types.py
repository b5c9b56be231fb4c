"""Plain values that cross from the service into the engine and back."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GRID_SIZE = 4  # images in a grid (2x2)


class JobKind(enum.StrEnum):
    """What a job does; stored in the jobs table."""

    IMAGINE = "imagine"
    VARIATION = "variation"
    UPSCALE = "upscale"
    REROLL = "reroll"


class JobStatus(enum.StrEnum):
    """Where a job stands; the job row's status is the truth."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Everything the engine needs to run one job, and nothing Discord-specific.

    Text-to-image when ``source_image`` is None; otherwise image-to-image from that file
    at ``strength``, with the source first resized to ``width`` x ``height``.
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
    owner: int = 0  # whose job it is: the scheduler shares the GPU fairly among owners

    @property
    def shape(self) -> tuple:
        """Jobs of one shape can share a pipeline call (each keeps its prompts and seeds).

        Whether a negative prompt is given is part of it: SDXL encodes "no negative
        prompt" as zeros, which a fused call could not keep apart from an empty one.
        """
        image_to_image = self.source_image is not None
        return (
            image_to_image,
            self.width,
            self.height,
            self.steps,
            round(self.guidance, 6),
            round(self.strength, 6) if image_to_image else None,
            bool(self.negative),
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

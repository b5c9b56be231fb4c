"""The GPU side: what the rest of the product may use of it.

``core`` imports the engine only through this module and ``engine.types``; the engine
imports nothing of ``core``, ``storage`` or ``bot``.
"""

from engine.canvas import pan_size, region_preview
from engine.clip_jobs import VIDEO_ALIAS, VideoOffer, encode_clip, read_clip, read_recipe
from engine.faults import WorkerLost, is_out_of_memory
from engine.handle import JobCancelled, JobHandle, JobStarted
from engine.images import censor, censor_each, compose_grid, encode_png, fit_png, fitting_png
from engine.loras import LoraFile, base_family
from engine.model import FamilyDefaults
from engine.png import encode_grid
from engine.protocols import Model
from engine.resident import ModelLoadFailed
from engine.scheduler import Engine, EngineStats, default_batch_images
from engine.types import GRID_SIZE, JobOutput, JobSpec, Paint, Progress, WorkerState
from engine.video import (
    CLIP_FPS,
    CLIP_FRAMES,
    DEFAULT_VIDEO_MODEL,
    ClipPlan,
    extend_clip,
    overlap_frames,
    video_defaults,
)

__all__ = [
    "CLIP_FPS",
    "CLIP_FRAMES",
    "DEFAULT_VIDEO_MODEL",
    "GRID_SIZE",
    "VIDEO_ALIAS",
    "ClipPlan",
    "Engine",
    "EngineStats",
    "FamilyDefaults",
    "JobCancelled",
    "JobHandle",
    "JobOutput",
    "JobSpec",
    "JobStarted",
    "LoraFile",
    "Model",
    "ModelLoadFailed",
    "Paint",
    "Progress",
    "VideoOffer",
    "WorkerLost",
    "WorkerState",
    "base_family",
    "censor",
    "censor_each",
    "compose_grid",
    "default_batch_images",
    "encode_clip",
    "encode_grid",
    "encode_png",
    "extend_clip",
    "fit_png",
    "fitting_png",
    "is_out_of_memory",
    "overlap_frames",
    "pan_size",
    "read_clip",
    "read_recipe",
    "region_preview",
    "video_defaults",
]

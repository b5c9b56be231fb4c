"""The domain's values: what a job is, where it stands, who asks and what they may see.

Plain frozen values with types, shared by core, storage (which maps its rows to them) and
the Discord layer. No behaviour beyond checking and converting themselves.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.actions import Action as Action  # the button actions, where they were
from core.recipes import Recipe, RecipeError
from engine.types import GRID_SIZE, Progress, WorkerState


class JobKind(enum.StrEnum):
    """What a job does: its recipe's tag (``core.recipes``), as the jobs table holds it."""

    IMAGINE = "imagine"
    VARIATION = "variation"
    UPSCALE = "upscale"
    REROLL = "reroll"
    ZOOM = "zoom"  # zoom out: the image shrunk into the middle, the border painted
    PAN = "pan"  # the canvas grown by half a side, the new strip painted
    REGION = "region"  # Vary (Region): the chosen cells of a 3x3 grid repainted
    BLEND = "blend"  # /blend: two to five images merged, no text
    ANIMATE = "animate"  # a clip from an image (Animate, /imagine --video)
    EXTEND = "extend"  # a clip continued from another's last frames
    ENHANCE = "enhance"  # E1-E4: a draft's image at full quality


class JobStatus(enum.StrEnum):
    """Where a job stands; the job row's status is the truth."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Done, failed or cancelled: nothing more happens to the job."""
        return self in _FINAL


_FINAL = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


class EventKind(enum.StrEnum):
    """What just happened to a job."""

    QUEUED = "queued"
    STARTED = "started"
    PROGRESS = "progress"
    FINISHED = "finished"


class Everywhere(enum.Enum):
    """The scope of the bot's owners and of the bot itself: every server at once."""

    EVERYWHERE = "everywhere"


EVERYWHERE = Everywhere.EVERYWHERE
# Which server a query may see: one server's id (None: no server, as for the CLI), or
# EVERYWHERE. Queries on jobs, bans and words take it with no default, so that no caller
# can forget that every server is an island.
Scope = int | None | Everywhere
# In the bans table, the guild id of a ban that holds in every server (no snowflake is 0).
ALL_SERVERS = 0


@dataclass(frozen=True, slots=True)
class JobParams:
    """How a job's images are drawn, the same for every kind (its recipe says what they
    are made from): stored with the job (JSON in its row). The engine's ``JobSpec``
    checks them (``engine.types.render_problems``, the one statement of those limits)
    when the job is handed to it: a row that cannot run fails alone.

    ``aspect``: the ``--ar`` asked for (16:9 is drawn 1344x768 on SDXL); ``tile``:
    seamless; ``negative_from``: the member whose saved /settings negative this job's is
    (None: the prompt's own ``--no``, or an edited form's): a form shows it to them only.
    """

    width: int
    height: int
    steps: int
    guidance: float
    num_images: int = GRID_SIZE
    aspect: str | None = None
    model: str = ""  # the model's name (engine.model.name_of); empty: the default
    tile: bool = False
    negative_from: int | None = None
    loras: tuple[tuple[str, float], ...] = ()  # LORA_DIR's, by name, with their weights
    chaos: int = 0  # --chaos: how different a grid's four images are
    # IP-Adapter images (core.references): (role, job whose folder keeps it, None: this
    # job's own; slot), and the weights of the style and omni ones (None: none of them).
    references: tuple[tuple[str, int | None, int], ...] = ()
    style_weight: int | None = None
    omni_weight: int | None = None
    # A clip's (Animate, Extend): its frames and frame rate; 0 for images.
    frames: int = 0
    fps: int = 0
    # --draft: the steps the full-quality job takes (what E1-E4 run); 0: not a draft.
    draft: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """Width and height."""
        return self.width, self.height

    def to_json(self) -> str:
        """The row's text: the fields set (no ``tile`` when off), keys sorted."""
        values = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        if not self.tile:
            del values["tile"]  # as rows before --tile were written
        # Left out when empty, as rows before --lora, --chaos, references and clips were.
        for key in ("loras", "chaos", "references", "frames", "fps", "draft"):
            if not values[key]:
                del values[key]
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobParams:
        """Read a row's text back (keys this version does not know are left out)."""
        values: dict[str, Any] = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        kept["tile"] = bool(kept.get("tile"))
        kept["loras"] = tuple((str(name), float(w)) for name, w in kept.get("loras", ()))
        kept["references"] = tuple(
            (str(role), None if job is None else int(job), int(slot))
            for role, job, slot in kept.get("references", ())
        )
        return cls(**kept)

    def but(self, **changes: Any) -> JobParams:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job about to be written, before it has an id."""

    user_id: int
    prompt: str
    negative: str
    seed: int
    params: JobParams
    recipe: Recipe
    guild_id: int | None = None
    channel_id: int | None = None
    parent_id: int | None = None
    parent_index: int | None = None
    # An image prompt's source (PNG, fitted to the job's size), written to the job's
    # folder when the row is committed; not a column.
    source_png: bytes | None = field(default=None, repr=False, compare=False)
    # Its own references (PNG), slot 1 first, written beside it as ref-<slot>.png.
    reference_pngs: tuple[bytes, ...] = field(default=(), repr=False, compare=False)
    # Fast or relax (core.fast_time): "" asks for the member's /settings mode; admission
    # writes the mode it runs in, whether fast time running out moved it to relax, and
    # the GPU seconds it estimates for it.
    mode: str = ""
    moved: bool = False
    gpu_estimate: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 2**32:
            raise RecipeError(f"a seed is 0..2**32-1 (got {self.seed!r})")

    @property
    def kind(self) -> JobKind:
        """The recipe's kind."""
        return JobKind(self.recipe.KIND)


@dataclass(frozen=True, slots=True)
class Job:
    """A row of the jobs table."""

    id: int
    parent_id: int | None
    parent_index: int | None
    user_id: int
    guild_id: int | None
    channel_id: int | None
    message_id: int | None
    prompt: str
    negative: str
    params: JobParams
    recipe: Recipe
    seed: int
    status: JobStatus
    error: str | None
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    delivered_at: str | None = None
    purged_at: str | None = None
    gpu_seconds: float | None = None  # device seconds its runs spent; None: not run
    mode: str = "fast"  # or "relax": it costs no fast time, and waits behind fast jobs
    moved: bool = False  # relax because the member's fast time was used up
    gpu_estimate: float | None = None  # admission's estimate of its GPU seconds
    images_expired_at: str | None = None  # its files removed by KEEP_IMAGES_DAYS

    @property
    def kind(self) -> JobKind:
        """The recipe's kind (the jobs table's kind column)."""
        return JobKind(self.recipe.KIND)


@dataclass(frozen=True, slots=True)
class ImageRow:
    """A row of the images table (its file: ``Storage.image_file``)."""

    job_id: int
    index: int
    width: int
    height: int
    seed: int
    nsfw: bool = False


@dataclass(frozen=True, slots=True)
class Description:
    """A /describe answer: the four prompts made from an image (``core.describe``)."""

    id: int
    guild_id: int | None
    user_id: int
    prompts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuditRow:
    """A row of the moderation log."""

    id: int
    guild_id: int | None
    actor_id: int | None
    action: str
    target: str
    details: str
    created_at: str


@dataclass(frozen=True, slots=True)
class AdmissionCounts:
    """Everything admission counts for one user in one server, read in one query: jobs
    that count against the quota today here and in every server, the quota override and
    the server's default (None: not set), the user's queued and running jobs (in every
    server: one GPU), the jobs waiting in all, the user's ban and their /settings."""

    used_here: int
    used_everywhere: int
    override: int | None
    server_default: int | None
    active_mine: int
    queued_all: int
    ban: tuple[str, bool] | None = None  # (reason, everywhere)
    settings: dict[str, Any] = field(default_factory=dict)  # the user's /settings
    # Fast time (core.fast_time): GPU seconds of today's fast jobs here and everywhere
    # (measured, or estimated while they wait or run), the fast-minutes override and the
    # server's default (None: not set), and the user's relax jobs queued or running.
    fast_here: float = 0.0
    fast_everywhere: float = 0.0
    fast_override: float | None = None
    fast_server_default: float | None = None
    relax_mine: int = 0


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks, and where: plain ids from the Discord layer (None outside a server).

    ``is_admin``: an admin of this server (Manage Server, the admin role) or an owner;
    ``is_owner``: one of ``OWNER_IDS``, the bot's own operators, who act in every server.
    """

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    is_admin: bool = False
    is_owner: bool = False

    @property
    def scope(self) -> Scope:
        """The jobs, members, words and log rows this requester may see and act on."""
        return EVERYWHERE if self.is_owner else self.guild_id


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """A user's daily quota in a server: ``limit`` None means unlimited (admins), and
    the quota across every server (``global_limit`` None: off, or an owner)."""

    limit: int | None
    used: int
    resets_at: datetime
    global_limit: int | None = None
    global_used: int = 0

    @property
    def global_left(self) -> int | None:
        """Jobs left today across all servers (None: unlimited)."""
        return None if self.global_limit is None else max(0, self.global_limit - self.global_used)

    @property
    def left(self) -> int | None:
        """Jobs left today (None: unlimited)."""
        return None if self.limit is None else max(0, self.limit - self.used)


@dataclass(frozen=True, slots=True)
class UserInfo:
    """What /info shows."""

    quota: QuotaStatus
    jobs: list[tuple[int, int | None]]  # the caller's queued and running jobs: id, position
    queue_length: int
    running: int
    model: str
    device: str
    workers: list[WorkerState] = field(default_factory=list)  # for admins; else empty
    models: list[OfferedModel] = field(default_factory=list)  # the default first
    loras: list[OfferedLora] = field(default_factory=list)
    fast: Any = None  # core.fast_time.FastStatus: fast time used and left today
    mode: str = "fast"  # the caller's /settings mode
    relax: list[int] = field(default_factory=list)  # which of ``jobs`` run in relax
    disk_bytes: int | None = None  # what the jobs' files take on disk: for admins; else None
    keep_images_days: int = 0  # KEEP_IMAGES_DAYS (0: forever)


@dataclass(frozen=True, slots=True)
class OfferedModel:
    """A model members may pick (``--model``, ``/settings model``), as /info lists it."""

    alias: str
    name: str
    family: str
    steps: int  # its default sampler steps
    default: bool = False


@dataclass(frozen=True, slots=True)
class OfferedLora:
    """A LoRA of ``LORA_DIR`` (``--lora``), as /info lists it."""

    name: str
    family: str


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of /history."""

    user_id: int
    page: int
    pages: int
    total: int
    jobs: list[Job]


@dataclass(frozen=True, slots=True)
class JobEvent:
    """Something happened to a job."""

    kind: EventKind
    job: Job
    progress: Progress | None = None

"""Image references: ``--sref`` (the style of up to four images), ``--oref`` (a character
or object of one image) and ``/blend`` (two to five images, no text), through the model
family's IP-Adapter (``engine.references``).

A reference is ``ID:N`` (image N of a finished job of this server, never a flagged one) or
the link of an image on one of ``MEDIA_HOSTS`` (Discord's CDN): a link to any other host
is refused before any request. It is fetched only once the cheap checks have passed (like
an image prompt), checked like one (``core.image_prompt``), shrunk to at most
``REFERENCE_SIDE`` a side and kept in the job's folder as ``ref-<slot>.png``; the job's
params name each one as (role, job, slot), so rerolls, variations, remix and restarts use
the same files (a child names its parent's).

Weights: ``--sw`` 0..1000 and ``--ow`` 1..1000 (default 100) become the adapter's scale
``w / (w + 67)``: 100 is 0.6 (what IP-Adapter's authors suggest for a prompt and an image
together), 1000 is 0.94, 0 is none at all. A blend runs at the full scale: it has no text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from PIL import Image

from core.errors import BadImage, BadParameter, UnknownJob
from core.image_prompt import ImageFetch, load_image_prompt
from core.model import JobParams, JobStatus, Requester
from core.prompt import ParsedPrompt
from engine import base_family, encode_png
from engine.types import Reference

if TYPE_CHECKING:
    from engine import Engine, Model
    from storage.db import Storage

# A link's bytes, downloaded by the bot (size and time bounded); called only for a link
# whose host is one of MEDIA_HOSTS.
UrlFetch = Callable[[str], Awaitable[bytes]]
DEFAULT_WEIGHT = 100
BLEND_SCALE = 1.0
REFERENCE_SIDE = 1024  # the image encoders see 224 px: a reference need not be larger
_HALF = 67  # the weight at which the scale is one half


def scale_of(weight: int) -> float:
    """The adapter scale of ``--sw``/``--ow`` ``weight`` (0 -> 0, 100 -> 0.6, 1000 -> 0.94)."""
    return round(weight / (weight + _HALF), 4)


@dataclass(frozen=True, slots=True)
class GivenReferences:
    """References given as files rather than typed (the CLI's ``--sref PATH``)."""

    style: tuple[bytes, ...] = ()
    omni: bytes | None = None

    def __bool__(self) -> bool:
        return bool(self.style) or self.omni is not None


def wanted(parsed: ParsedPrompt, given: GivenReferences | None = None) -> bool:
    """Whether a prompt asks for references (typed or given)."""
    return bool(parsed.style_refs or parsed.omni_ref or given)


def check_prompt(
    engine: Engine,
    parsed: ParsedPrompt,
    model: Model,
    hosts: frozenset[str],
    given: GivenReferences | None = None,
) -> None:
    """The cheap checks of a prompt's references, before anything is fetched: weights
    only with their references, files and typed ones not both, a family with an
    IP-Adapter, and every link's host one of ``hosts`` (``BadParameter`` otherwise)."""
    if parsed.style_weight is not None and not (parsed.style_refs or (given and given.style)):
        raise BadParameter("--sw", "`--sw` weighs style references: add `--sref`, or remove it.")
    if parsed.omni_weight is not None and not (parsed.omni_ref or (given and given.omni)):
        raise BadParameter("--ow", "`--ow` weighs an omni reference: add `--oref`, or remove it.")
    if given and (parsed.style_refs or parsed.omni_ref):
        raise BadParameter("--sref", "Give the references either as files or in the prompt.")
    if not wanted(parsed, given):
        return
    name = "--sref" if parsed.style_refs or (given and given.style) else "--oref"
    check_family(engine, model, name)
    for text in (*parsed.style_refs, *((parsed.omni_ref,) if parsed.omni_ref else ())):
        check_host(text, hosts, "--sref" if text in parsed.style_refs else "--oref")


def check_prompts(
    engine: Engine,
    prompts: Sequence[ParsedPrompt],
    chosen: Sequence[tuple[Model, Any, Any]],
    hosts: frozenset[str],
    given: GivenReferences | None = None,
) -> None:
    """``check_prompt`` for each prompt of a request with its chosen model."""
    for parsed, (model, _, _) in zip(prompts, chosen, strict=True):
        check_prompt(engine, parsed, model, hosts, given)


def check_family(engine: Engine, model: Model, name: str) -> None:
    """``BadParameter`` when ``model``'s family has no IP-Adapter here."""
    family = model.defaults.family
    try:
        takes = base_family(family) in engine.ip_adapters
    except ValueError:  # a family with no LoRA/adapter mapping at all (FLUX.1, SD3, ...)
        takes = False
    if not takes:
        what = "/blend needs" if name == "/blend" else f"`{name}` needs"
        how = "`/settings model`" if name == "/blend" else "`--model`"
        raise BadParameter(
            name,
            f"{what} an image adapter (IP-Adapter), and the model {model.name} ({family}) "
            f"has none here: choose a Stable Diffusion 1.5 or SDXL model with {how} (as "
            "/info lists them).",
        )


def check_host(text: str, hosts: frozenset[str], name: str) -> None:
    """A link's host must be one of ``hosts`` (``MEDIA_HOSTS``): refused without a request.
    ``https`` only, but for a loopback host named in ``hosts`` (a test's CDN)."""
    if "://" not in text:
        return  # ID:N
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        host, port = "", None
    named = f"{host}:{port}" if port else host
    loopback = host in ("127.0.0.1", "localhost", "::1")
    allowed = named in hosts or (port is None and host in hosts)
    userinfo = "@" in parts.netloc  # user:password@host: never (a link that hides its host)
    if not allowed or (parts.scheme != "https" and not loopback) or userinfo:
        shown = ", ".join(sorted(hosts)) or "none"
        raise BadParameter(
            name,
            f"I only fetch images from Discord ({shown}): post the image in Discord and "
            "use its link, or use `ID:N` for an image of a job here.",
        )


@dataclass
class Fetched:
    """The references of one request, fetched and shrunk once each (a prompt's repeats
    and permutations share them)."""

    storage: Storage
    who: Requester
    fetch_url: UrlFetch | None
    cache: dict[str, bytes]

    async def png(self, text: str, name: str) -> bytes:
        """The reference ``text`` (``ID:N`` or a link) as the job keeps it (PNG)."""
        if text not in self.cache:
            data = await self._bytes(text, name)
            self.cache[text] = await asyncio.to_thread(_reference_png, data, name)
        return self.cache[text]

    async def _bytes(self, text: str, name: str) -> bytes:
        if "://" in text:
            if self.fetch_url is None:
                raise BadParameter(name, "Links to images cannot be fetched here: use `ID:N`.")
            return await self.fetch_url(text)
        job_id, index = (int(part) for part in text.split(":"))
        path = await job_image(self.storage, self.who, job_id, index, name)
        return await asyncio.to_thread(path.read_bytes)


async def job_image(storage: Storage, who: Requester, job_id: int, index: int, name: str) -> Path:
    """The file of image ``index`` of job ``job_id`` when ``who`` may use it as a
    reference: a finished job of their server, its images kept, the image not flagged."""
    # This server's only, owners too: the image is used (and shown) here.
    job = await storage.get_job(job_id, scope=who.guild_id)
    if job is None:
        raise BadParameter(name, f"There is no job {job_id} here (`{name} {job_id}:{index}`).")
    if job.status != JobStatus.DONE or job.purged_at or job.images_expired_at:
        raise BadParameter(name, f"Job {job_id} has no images to use ({job.status}).")
    rows = {row.index: row for row in await storage.images(job_id)}
    row = rows.get(index)
    if row is None:
        raise BadParameter(name, f"Job {job_id} has no image {index}.")
    if row.nsfw:
        raise BadParameter(
            name, f"Image {index} of job {job_id} was flagged as NSFW: it cannot be a reference."
        )
    path = storage.image_file(row)
    if not await asyncio.to_thread(path.is_file):
        raise BadParameter(name, f"The images of job {job_id} are no longer kept.")
    return path


def _reference_png(data: bytes, name: str) -> bytes:
    try:
        image = load_image_prompt(data)
    except BadImage as exc:
        raise BadImage(f"`{name}`: {exc}") from None
    image.thumbnail((REFERENCE_SIDE, REFERENCE_SIDE), Image.Resampling.LANCZOS)
    return encode_png(image, {"Software": "imaginebot"})


async def for_prompt(
    fetched: Fetched, parsed: ParsedPrompt, given: GivenReferences | None = None
) -> tuple[tuple[tuple[str, int | None, int], ...], tuple[bytes, ...]]:
    """A prompt's references as a job's params name them (role, None: the job's own
    folder, slot) and the files it keeps, in slot order."""
    entries: list[tuple[str, bytes]] = []
    for text in parsed.style_refs:
        entries.append(("style", await fetched.png(text, "--sref")))
    if parsed.omni_ref:
        entries.append(("omni", await fetched.png(parsed.omni_ref, "--oref")))
    if given:
        for data in given.style:
            entries.append(("style", await asyncio.to_thread(_reference_png, data, "--sref")))
        if given.omni is not None:
            entries.append(("omni", await asyncio.to_thread(_reference_png, given.omni, "--oref")))
    named = tuple((role, None, slot) for slot, (role, _) in enumerate(entries, start=1))
    return named, tuple(data for _, data in entries)


async def blend_pngs(images: Sequence[bytes | ImageFetch]) -> tuple[bytes, ...]:
    """/blend's images (bytes, or downloads started only now), checked and shrunk."""
    pngs = []
    for position, image in enumerate(images, start=1):
        data = await image() if callable(image) else image
        pngs.append(await asyncio.to_thread(_reference_png, data, f"image{position}"))
    return tuple(pngs)


def weights(
    parsed: ParsedPrompt,
    given: GivenReferences | None,
    named: tuple[tuple[str, int | None, int], ...],
) -> dict[str, Any]:
    """The params of a prompt's references: ``named`` (``for_prompt``) and the weights
    (None where that role is unused)."""
    roles = {role for role, _, _ in named}
    return {
        "references": named,
        "style_weight": _or_default(parsed.style_weight) if "style" in roles else None,
        "omni_weight": _or_default(parsed.omni_weight) if "omni" in roles else None,
    }


def _or_default(weight: int | None) -> int:
    return DEFAULT_WEIGHT if weight is None else weight


def carried(params: JobParams, parent_id: int) -> JobParams:
    """A child's params: its parent's own references named by the parent's id."""
    if not params.references:
        return params
    named = tuple((role, job or parent_id, slot) for role, job, slot in params.references)
    return params.but(references=named)


async def check_kept(storage: Storage, params: JobParams) -> None:
    """A child's references must still be kept (an admin's purge of the job that holds
    them removes them): ``UnknownJob`` saying so, before anything is admitted."""
    for _, job, slot in params.references:
        if job is not None and not await asyncio.to_thread(
            storage.reference_path(job, slot).is_file
        ):
            raise UnknownJob(
                f"The reference images of this job (kept with job {job}) were removed; "
                "start a new /imagine."
            )


def engine_references(storage: Storage, job_id: int, params: JobParams) -> tuple[Reference, ...]:
    """What the engine is given for a job's references: each file, with its role's scale."""
    scales = {
        "style": scale_of(_or_default(params.style_weight)),
        "omni": scale_of(_or_default(params.omni_weight)),
        "blend": BLEND_SCALE,
    }
    return tuple(
        Reference(role, storage.reference_path(job or job_id, slot), scales[role])
        for role, job, slot in params.references
    )

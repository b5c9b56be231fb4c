"""Requests that start or stop jobs: /imagine, the buttons under a grid, Cancel."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Iterable

from PIL import Image

from core import clips, derive, drafts, offer, references
from core.admission import Admission
from core.blocked import PARENT_TEXTS, Text
from core.derive import ONLY_REROLL_AND_ZOOM, Edit, grid_size, own_aspects
from core.errors import BadParameter, NotAllowed, UnknownJob, UserError
from core.image_prompt import (
    DEFAULT_IMAGE_WEIGHT,
    ImageFetch,
    fitted,
    load_image_prompt,
    own_aspect,
)
from core.limits import Limits
from core.model import Action, ImageRow, Job, JobStatus, NewJob, Requester
from core.prompt import ParsedPrompt, format_prompt, parse_float, parse_prompt, parse_prompts
from core.recipes import ImagePrompt
from core.references import GivenReferences, UrlFetch
from core.retention import refuse_removed
from core.runner import Runner
from core.sizes import size_for_aspect
from engine import GRID_SIZE, Engine, censor_each, encode_png, region_preview
from engine.types import MAX_ZOOM, MIN_ZOOM, REGION_CELLS
from storage.db import Storage

_IW_WITHOUT_IMAGE = (
    "`--iw` sets how closely the result follows an image prompt: attach an image in the "
    "`image` option, or remove `--iw`."
)


@dataclasses.dataclass(eq=False)
class Jobs:
    """Turns requests into admitted jobs (and cancels them): who asks, the parent they
    press a button under, and its image; ``core.derive`` makes the new job."""

    storage: Storage
    engine: Engine
    limits: Limits
    admission: Admission
    runner: Runner
    fetch_url: UrlFetch | None = None  # --sref/--oref links (MEDIA_HOSTS only)

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
        self,
        who: Requester,
        text: str,
        image: bytes | ImageFetch | None = None,
        given: GivenReferences | None = None,
    ) -> list[Job]:
        """Queue every job ``text`` asks for (its ``{}`` permutations, each ``--repeat``
        times, at most 4), admitted all together or none; returns their rows in order.

        ``image``: an image prompt (the file's bytes, or a coroutine function that
        downloads them, called only once the prompt, ban, quota and queue checks passed,
        so that a refused user costs no download and no decode): each job is
        image-to-image from it, cover-cropped to the job's ``--ar`` (or at the image's own
        aspect), following it as closely as ``--iw`` says (``image_strength``).
        ``BadImage`` says what is wrong with a file, before any job exists. References
        (``--sref``, ``--oref``; ``given`` files) are fetched then (``core.references``)."""
        prompts = parse_prompts(text, max_steps=self.limits.max_steps)
        if any(p.video or p.motion or p.loop or p.end for p in prompts):  # clips
            return await clips.imagine_clips(self, who, prompts, image)
        if image is None and any(p.image_weight is not None for p in prompts):
            raise BadParameter("--iw", _IW_WITHOUT_IMAGE)
        # The cheap refusals first (the same read brings the user's /settings), then the
        # blocked words: all before the image is downloaded or decoded.
        mine = (await self.admission.check(who, len(prompts))).settings
        chosen = offer.for_prompts(self.engine, prompts, mine)  # each one's model, LoRAs
        references.check_prompts(self.engine, prompts, chosen, self.limits.media_hosts, given)
        saved = all(parsed.negative is None for parsed in prompts)
        texts_from = (Text.PROMPT, Text.SAVED_NEGATIVE if saved else Text.NEGATIVE)
        texts = [(p.prompt, negative) for p, (_, _, negative) in zip(prompts, chosen, strict=True)]
        await self.admission.words.check_all(who, texts, texts_from)
        if callable(image):
            image = await image()
        picture = None if image is None else await asyncio.to_thread(load_image_prompt, image)
        news = []
        seeds: dict[int, int] = {}  # a given --seed: each repeat continues the sequence
        fetched = references.Fetched(self.storage, who, self.fetch_url, {})
        fits: dict[tuple[int, int], bytes] = {}  # the image prompt fitted, by size
        own = None if picture is None else own_aspect(picture)
        for parsed, (model, used, negative) in zip(prompts, chosen, strict=True):
            named, pngs = await references.for_prompt(fetched, parsed, given)
            params = derive.imagine_params(
                who, parsed, negative, mine, own, model.defaults, self.limits.max_steps
            ).but(model=model.name, loras=used, **references.weights(parsed, given, named))
            prompt_image = source = None
            if picture is not None:
                weight = parsed.image_weight
                prompt_image = ImagePrompt(DEFAULT_IMAGE_WEIGHT if weight is None else weight)
                if params.size not in fits:  # repeats of one size share it
                    fits[params.size] = await asyncio.to_thread(_source_png, picture, params.size)
                source = fits[params.size]
            seed = _seed(parsed.seed, seeds)
            new = derive.imagine(who, parsed, negative, seed, params, prompt_image, source)
            news.append(dataclasses.replace(new, reference_pngs=pngs))
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
        if wanted.motion is not None or clips.is_clip(parent):  # a clip (core.clips)
            source = await _source_image(
                self.storage, parent, index or 1, self.limits.keep_images_days
            )
            new = clips.child(self.engine, who, parent, source, wanted, remix, self.check_prompt)
            sources = PARENT_TEXTS if remix is None else (Text.PROMPT, Text.NEGATIVE)
            return await self.admission.admit(who, new, sources=sources)
        edit = None if remix is None else self.edit(parent, remix)
        # A child keeps its parent's model (and LoRAs: they are among its params).
        _, kept = offer.parent_model(self.engine, parent)
        model, side = kept.name, self.limits.max_upscale_side
        if wanted is Action.REROLL:
            refuse_removed(parent, self.limits.keep_images_days)
            native = kept.defaults.native_size
            return await self._admit(who, derive.reroll(who, parent, model, native, edit), edit)
        source = await _source_image(self.storage, parent, index, self.limits.keep_images_days)
        if edit is not None:
            derive.refuse_new_aspect(parent, grid_size(parent), edit, ONLY_REROLL_AND_ZOOM)
        if wanted is Action.ENHANCE:
            new = drafts.enhance(who, parent, source, model, kept.defaults.native_size)
            return await self._admit(who, new)
        if wanted in (Action.UPSCALE, Action.UPSCALE_CREATIVE):
            creative = wanted is Action.UPSCALE_CREATIVE
            new = derive.upscale(who, parent, source, creative, model, side)
            return await self._admit(who, new)
        if wanted.zoom is not None:
            new = derive.zoom_out(who, parent, source, wanted.zoom, model, edit)
        elif wanted.pan is not None:
            new = derive.pan(who, parent, source, wanted.pan, model, side, edit)
        else:
            strong = wanted is Action.VARY_STRONG
            new = derive.variation(who, parent, source, strong, model, edit)
        return await self._admit(who, new, edit)

    async def form_text(self, who: Requester, job_id: int) -> str:
        """The job's prompt with its parameters, as a form (remix, Custom Zoom, Vary
        (Region)) starts from; refused as a button press would be (banned, another
        server's job, images removed)."""
        await self.admission.check_not_banned(who)
        job = await self.get_job(job_id, who)
        refuse_removed(job, self.limits.keep_images_days)
        return _form_of(job, who)

    async def region_picture(
        self, who: Requester, job_id: int, index: int | None, nsfw_filter: str = "off"
    ) -> tuple[bytes, bool]:
        """The image with the 3x3 cells of Vary (Region) drawn and numbered over it (PNG),
        refused as the button would be (banned, another server's job, no such image);
        and whether the NSFW filter (``nsfw_filter``, as it applies where the picker is
        shown) blurred or greyed the image under the cells."""
        await self.admission.check_not_banned(who)
        parent = await self.get_job(job_id, who)
        source = await _source_image(self.storage, parent, index, self.limits.keep_images_days)
        path = self.storage.image_file(source)
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
        offer.check_form(self.engine, parent, parsed)  # the parent's model keeps to it
        return derive.edit_of(parent, parsed, self.limits.max_steps)

    async def custom_zoom(
        self, who: Requester, job_id: int, index: int | None, text: str, factor: str
    ) -> Job:
        """Custom Zoom: zoom out by ``factor`` (MIN_ZOOM to MAX_ZOOM) with the edited
        prompt; an ``--ar`` in it changes the canvas's aspect ratio (the image is fitted
        inside)."""
        value = parse_float(factor.strip().removesuffix("x"), "zoom", MIN_ZOOM, MAX_ZOOM)
        await self.admission.check_not_banned(who)
        parent = await self.get_job(job_id, who)
        edit = self.edit(parent, text)
        source = await _source_image(self.storage, parent, index, self.limits.keep_images_days)
        size = grid_size(parent)
        aspect = None
        _, kept = offer.parent_model(self.engine, parent)
        if edit.aspect is not None and edit.aspect not in own_aspects(parent, size):
            aspect = edit.aspect
            size = size_for_aspect(*aspect, kept.defaults.native_size)
        elif value == MIN_ZOOM:
            raise BadParameter(
                "zoom",
                f"A zoom of {MIN_ZOOM:g} at the same aspect ratio would change nothing: "
                f"choose a factor above {MIN_ZOOM:g}, or another `--ar`.",
            )
        new = derive.zoom_out(who, parent, source, value, kept.name, edit, size=size, aspect=aspect)
        return await self._admit(who, new, edit)

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
        last = REGION_CELLS**2
        if not chosen:
            raise UserError("Choose at least one part of the image to redraw.")
        if not all(1 <= cell <= last for cell in chosen):
            raise UserError(f"The parts of the image are numbered 1 to {last}.")
        await self.admission.check_not_banned(who)
        parent = await self.get_job(job_id, who)
        edit = None if text is None else self.edit(parent, text)
        source = await _source_image(self.storage, parent, index, self.limits.keep_images_days)
        if edit is not None:
            derive.refuse_new_aspect(parent, grid_size(parent), edit, ONLY_REROLL_AND_ZOOM)
        _, kept = offer.parent_model(self.engine, parent)
        new = derive.region(who, parent, source, chosen, kept.name, edit)
        return await self._admit(who, new, edit)

    async def cancel(self, job_id: int, who: Requester) -> Job:
        """Cancel a queued or running job (its owner or an admin); returns the final row."""
        await self.admission.check_not_banned(who)
        job = await self.get_job(job_id, who)
        if job.user_id != who.user_id and not who.is_admin:
            raise NotAllowed(f"Only the owner of job {job_id} or an admin can cancel it.")
        if job.status.is_final:
            raise UserError(f"Job {job_id} is already {job.status}; there is nothing to cancel.")
        return await self.runner.cancel(job, who)

    async def _admit(self, who: Requester, new: NewJob, edit: Edit | None = None) -> Job:
        # An edited text is the user's own, and a blocked word in it is pointed out as such.
        sources = PARENT_TEXTS if edit is None else (Text.PROMPT, Text.NEGATIVE)
        await references.check_kept(self.storage, new.params)  # a purge removed them?
        return await self.admission.admit(who, new, sources=sources)


def _form_of(job: Job, who: Requester) -> str:
    """A job's prompt and parameters as its forms show them to ``who``."""
    p = job.params
    return format_prompt(
        job.prompt,
        # Another member's saved /settings negative is theirs: not shown, not carried on.
        negative=job.negative if p.negative_from in (None, who.user_id) else "",
        aspect=p.aspect,
        steps=p.steps,
        cfg=p.guidance,
        tile=p.tile,
        chaos=p.chaos,
    )


def _seed(given: int | None, seeds: dict[int, int]) -> int:
    """A job's seed: random, or ``--seed``'s (each repeat of it continues the sequence)."""
    if given is None:
        return secrets.randbelow(2**32)
    repeat = seeds.get(given, 0)
    seeds[given] = repeat + 1
    return (given + GRID_SIZE * repeat) % 2**32


def _source_png(picture: Image.Image, size: tuple[int, int]) -> bytes:
    """The image prompt cover-cropped to the job's size, as the job keeps it."""
    return encode_png(fitted(picture, size), {"Software": "imaginebot"})


async def _source_image(
    storage: Storage, parent: Job, index: int | None, keep_days: int = 0
) -> ImageRow:
    """Image ``index`` of ``parent``, when a button may start from it (its images kept:
    not expired after ``keep_days``, not purged)."""
    refuse_removed(parent, keep_days)
    if parent.status != JobStatus.DONE:
        raise UnknownJob(
            f"Job {parent.id} has no images to use ({parent.status}); "
            "wait for it to finish or start a new one."
        )
    rows = await storage.images(parent.id)
    match = [row for row in rows if row.index == index]
    if not match:
        raise UnknownJob(f"Job {parent.id} has no image {index}.")
    if not await asyncio.to_thread(storage.image_file(match[0]).is_file):
        raise UnknownJob(f"The images of job {parent.id} are no longer kept.")
    return match[0]

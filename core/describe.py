"""/describe and the Describe menu: an image becomes four prompts to start from.

The captioning model (``DESCRIBE_MODEL``, run by ``engine.describe`` on a thread of its
own) writes four raw texts; here they become prompts a member can press: cleaned like
prompts (no mentions, links, markdown, braces; one line; bounded), each with the image's
own ``--ar`` (the nearest usual ratio), and checked against the server's blocked words
(one that holds a blocked word is withheld, and the member is told how many were). The
answer is stored (``descriptions``, with the image as the model saw it) so that its
buttons work after a restart: ``1``-``4`` run that prompt as ``/imagine`` for whoever
presses (through admission: bans, quotas, limits), ``Imagine all`` the four as one request
(all admitted or none), ``🔄`` four new ones from the same image.
"""

from __future__ import annotations

import asyncio
import io
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from PIL import Image

from core.errors import BadParameter, QueueFull, UnknownJob, UserError
from core.image_prompt import ImageFetch, load_image_prompt
from core.model import Description, Requester
from core.references import job_image
from engine import censor_each, encode_png

if TYPE_CHECKING:
    from core.admission import Admission
    from storage.db import Storage

PROMPTS = 4
BUSY = "Too many images are waiting to be described right now. Try again in a moment."
MAX_DESCRIBED_CHARS = 300  # one prompt, before its --ar
DESCRIBE_SIDE = 768  # the image as kept and shown (the model sees less)
# The ratios a suggestion picks from (--ar): the usual ones of cameras, phones and prints.
RATIOS = ((1, 1), (4, 5), (5, 4), (2, 3), (3, 2), (3, 4), (4, 3), (9, 16), (16, 9), (1, 2), (2, 1))
_LINK = re.compile(r"(?i)\b(?:https?://|www\.)\S+")
_MENTION = re.compile(r"<[@#][!&]?\d+>|<a?:\w+:\d+>|@(?:everyone|here)\b|@")
_MARKUP = re.compile(r"[*_`~|>#\[\](){}\\<]")
_JOB_IMAGE = re.compile(r"([0-9]{1,18}):([1-4])")
_SPECIAL = re.compile(r"</?s>|<pad>|<unk>|<[A-Z_]+>")


class Describer(Protocol):
    """What runs the captioning model (``engine.describe.DescribeService``)."""

    async def describe(self, image: Image.Image, seed: int) -> list[str]:
        """Four raw texts about ``image`` (``seed``: which four)."""
        ...

    def has_room(self) -> bool:
        """Whether another image may wait for the model now."""
        ...


@dataclass(frozen=True, slots=True)
class Described:
    """A description as the answer shows it: its row, the image (PNG) and how many of the
    model's prompts were withheld for the server's blocked words."""

    description: Description
    image_png: bytes
    withheld: int = 0
    # The NSFW classifier's verdict on the image; None: no classifier could check it
    # (ENGINE=ray: it runs on the replicas), which the filter treats as flagged.
    nsfw: bool | None = None

    def hidden_in(self, mode: str) -> bool:
        """Whether the image (and its prompts) are hidden where ``mode`` (``NSFW_FILTER``
        as it applies to the channel: off, blur, block) holds: flagged, or not checked."""
        return mode != "off" and self.nsfw is not False

    def shown_png(self, mode: str) -> bytes:
        """The image as the answer shows it where ``mode`` holds: a flagged (or unchecked)
        one blurred or grey. Blocking: run it off the event loop."""
        if not self.hidden_in(mode):
            return self.image_png
        [shown] = censor_each([_opened(self.image_png)], [True], mode)
        return encode_png(shown, {"Software": "imaginebot"})


def suggested_aspect(width: int, height: int) -> str:
    """The usual ratio nearest to ``width:height`` (compared as logarithms), as ``--ar``
    takes it."""
    import math

    own = math.log(width / height)
    best = min(RATIOS, key=lambda r: abs(math.log(r[0] / r[1]) - own))
    return f"{best[0]}:{best[1]}"


def clean_prompt(text: str) -> str:
    """A model's text as a prompt: the model's own tokens, links, mentions and markdown
    gone, one line, at most ``MAX_DESCRIBED_CHARS`` (cut at a word), no parameters."""
    text = _SPECIAL.sub(" ", text)
    text = _LINK.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = _MARKUP.sub(" ", text)
    text = re.sub(r"(?<!\S)[-—–]{1,}(?=\S)", " ", text)  # nothing reads as --param
    text = " ".join(text.split())
    if len(text) > MAX_DESCRIBED_CHARS:
        text = text[:MAX_DESCRIBED_CHARS].rsplit(" ", 1)[0].rstrip(",;:")
    return text.strip(" ,;:")


def as_prompts(raw: list[str], size: tuple[int, int]) -> list[str]:
    """A model's texts as prompts: cleaned (``clean_prompt``), each once, at most
    ``PROMPTS``, each with the ``--ar`` of an image of ``size``."""
    aspect = suggested_aspect(*size)
    cleaned = dict.fromkeys(c for c in map(clean_prompt, raw) if c)
    return [f"{text} --ar {aspect}" for text in list(cleaned)[:PROMPTS]]


def prompt_text(description: Description, number: int | None) -> str:
    """What ``1``-``4`` (``number``) or ``Imagine all`` (None) runs: one prompt, or the
    four as ``{}`` permutations (one request: all admitted or none)."""
    prompts = description.prompts
    if number is None:
        if len(prompts) == 1:
            return prompts[0]
        texts = [p.rsplit(" --ar ", 1) for p in prompts]
        shared = {ar for _, ar in texts}
        escaped = [body.replace(",", "\\,") for body, _ in texts]
        ar = f" --ar {shared.pop()}" if len(shared) == 1 else ""
        return "{" + ", ".join(escaped) + "}" + ar
    if not 1 <= number <= len(prompts):
        raise UnknownJob(f"This description has no prompt {number}.")
    return prompts[number - 1]


@dataclass(eq=False)
class Descriptions:
    """Makes descriptions, makes them again (🔄) and reads them for their buttons."""

    storage: Storage
    admission: Admission
    describer: Describer | None = None
    # The NSFW verdicts on images (``Engine.classify``; None: no classifier runs).
    classify: Callable[[list], Awaitable[list[bool] | None]] | None = None

    async def describe(
        self, who: Requester, image: bytes | ImageFetch | None = None, job: str | None = None
    ) -> Described:
        """Four prompts from an uploaded image (``image``, fetched only once the member
        may) or from image N of a job of this server (``job``: ``ID:N``)."""
        await self.admission.check_not_banned(who)
        self._require_model()
        if (image is None) == (job is None):
            raise UserError("Give an image or a job's image (`job: ID:N`), one of them.")
        if job is not None:
            found = _JOB_IMAGE.fullmatch(job.strip())
            if found is None:
                raise BadParameter(
                    "job", "`job` is `ID:N`: image N (1 to 4) of job ID here, as /history shows."
                )
            job_id, index = int(found[1]), int(found[2])
            path = await job_image(self.storage, who, job_id, index, "job")
            data = await asyncio.to_thread(path.read_bytes)
        elif callable(image):
            data = await image()
        else:
            assert image is not None
            data = image
        picture = await asyncio.to_thread(shrunk, data)
        prompts, withheld = await self._prompts(who, picture)
        row = await self.storage.add_description(who.guild_id, who.channel_id, who.user_id, prompts)
        png = await asyncio.to_thread(encode_png, picture, {"Software": "imaginebot"})
        path = self.storage.description_image(row.id)
        await asyncio.to_thread(self.storage.write_file, path, png)
        return Described(row, png, withheld, await self._flagged(picture))

    async def again(self, who: Requester, description_id: int) -> Described:
        """🔄: four new prompts from the same image (for whoever presses)."""
        await self.admission.check_not_banned(who)
        self._require_model()
        row = await self.get(who, description_id)
        path = self.storage.description_image(row.id)
        try:
            png = await asyncio.to_thread(path.read_bytes)
        except OSError:
            raise UnknownJob("The image of this description is no longer kept.") from None
        picture = await asyncio.to_thread(_opened, png)
        prompts, withheld = await self._prompts(who, picture)
        await self.storage.set_description_prompts(row.id, prompts)
        again = Description(row.id, row.guild_id, row.user_id, tuple(prompts))
        return Described(again, png, withheld, await self._flagged(picture))

    async def get(self, who: Requester, description_id: int) -> Description:
        """A description of this server (``UnknownJob`` otherwise, as for a job)."""
        # This server's only, owners too: the answer is public here.
        row = await self.storage.get_description(description_id, scope=who.guild_id)
        if row is None:
            raise UnknownJob("This description is not known here.")
        return row

    async def _flagged(self, picture: Image.Image) -> bool | None:
        verdicts = None if self.classify is None else await self.classify([picture])
        return None if verdicts is None else bool(verdicts[0])

    def _require_model(self) -> None:
        """Refused before any download: no model here, or too many images waiting."""
        if self.describer is None:
            raise UserError("Describing images is not available on this bot.")
        if not self.describer.has_room():
            raise QueueFull(BUSY)

    async def _prompts(self, who: Requester, picture: Image.Image) -> tuple[list[str], int]:
        """The model's four texts as prompts with ``--ar``, those with a blocked word
        withheld (``BlockedPrompt`` when all four are)."""
        assert self.describer is not None
        raw = await self.describer.describe(picture, secrets.randbelow(2**32))
        cleaned = as_prompts(raw, picture.size)
        kept = []
        for text in cleaned:
            if not await self.admission.words.holds_blocked(who, text.rsplit(" --ar ", 1)[0]):
                kept.append(text)
        if not kept:
            raise UserError(
                "The descriptions of this image hold words or phrases blocked in this "
                "server, so none is shown."
                if cleaned
                else "The model could not describe this image. Try another."
            )
        return kept, len(cleaned) - len(kept)


def shrunk(data: bytes) -> Image.Image:
    """The image checked like an image prompt, at most ``DESCRIBE_SIDE`` a side, as the
    captioning model is given it (blocking)."""
    picture = load_image_prompt(data)
    picture.thumbnail((DESCRIBE_SIDE, DESCRIBE_SIDE), Image.Resampling.LANCZOS)
    return picture


def _opened(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(png)) as image:
        return image.convert("RGB")

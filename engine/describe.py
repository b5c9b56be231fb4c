"""/describe on the engine side: an image in, four prompts out, by Florence-2.

Why a thread of its own, and not the image worker: Florence-2-base is 0.23 B parameters
(about 0.5 GB in fp16) and a caption takes a fraction of a second, while a diffusion job
takes seconds to minutes and never batches with a caption. Queued behind images, a
/describe would wait for the whole image queue; on its own single thread
(``DescribeService``) it answers in seconds however long that queue is. On one GPU it runs
beside the image model: CUDA interleaves the two threads' kernels. One thread, because the
model is not thread-safe and requests are cheap; a bound on pending requests
(``DescribeBusy``) keeps a flood from piling up.

Sampling never touches torch's global RNG (which the image threads share): each caption
adds Gumbel noise from a private, seeded ``torch.Generator`` to the tempered, top-p
filtered logits and takes the argmax, which draws exactly from the same distribution as
``do_sample=True`` (the Gumbel-max trick). So a seed gives the same four prompts whatever
else runs, and another seed gives four new ones.
"""

from __future__ import annotations

import asyncio
import colorsys
import logging
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, cast

from PIL import Image, ImageOps, ImageStat

from engine.loading import LOADING
from engine.model import pick_device

logger = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 300
MAX_SIDE = 768  # longest side an image keeps on its way to the model
MAX_RESAMPLES = 3  # fresh draws for a prompt that repeats another, before a suffix
# The four angles: (Florence-2 task, max new tokens). The last is a second short caption
# that gets the image's palette and light (measured from its pixels) appended.
ANGLES = (
    ("<CAPTION>", 32),
    ("<DETAILED_CAPTION>", 64),
    ("<MORE_DETAILED_CAPTION>", 128),
    ("<CAPTION>", 32),
)
_TEMPERATURE = 0.8
_TOP_P = 0.9

_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_SPECIAL_TOKEN = re.compile(r"<[^<>\s]*>")  # <s>, </s>, <pad>, <image>, <od>, <loc_12>...
_LEAD_IN = re.compile(
    r"^(?:(?:the|this) (?:image|picture|photo(?:graph)?) (?:shows|depicts|features|captures"
    r"|is of|is)|in (?:the|this) (?:image|picture)(?:,? (?:we|you) can see|,? there (?:is|are))?)"
    r"[\s,:]+",
    re.IGNORECASE,
)
_HUE_BOUNDS = (15, 40, 68, 160, 195, 255, 290, 335, 361)  # degrees, each name's upper end
_HUE_NAMES = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "red")


class DescribeUnavailable(Exception):
    """The describe model (``DESCRIBE_MODEL``) could not be loaded; the message says why."""


class DescribeBusy(Exception):
    """Too many /describe requests are already waiting; try again shortly."""


def shrink(image: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """An RGB copy, upright (EXIF), transparency on white, at most ``max_side`` a side."""
    picture = ImageOps.exif_transpose(image)
    if picture.mode in ("RGBA", "LA", "P", "PA"):
        rgba = picture.convert("RGBA")
        picture = Image.new("RGB", rgba.size, "white")
        picture.paste(rgba, mask=rgba.getchannel("A"))
    picture = picture.convert("RGB")
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return picture


def _colour_name(red: int, green: int, blue: int) -> str:
    hue, saturation, value = colorsys.rgb_to_hsv(red / 255, green / 255, blue / 255)
    if value < 0.18:
        return "black"
    if saturation < 0.18:
        return "white" if value > 0.85 else "grey" if value > 0.35 else "charcoal"
    name = next(n for bound, n in zip(_HUE_BOUNDS, _HUE_NAMES, strict=True) if hue * 360 < bound)
    if name in ("orange", "yellow") and value < 0.6:
        return "brown"
    if value < 0.45:
        return f"dark {name}"
    return f"pale {name}" if saturation < 0.4 and value > 0.75 else name


@dataclass(frozen=True)
class Look:
    """What an image's pixels say: dominant colour names (most first), light and mood."""

    colours: tuple[str, ...]
    light: str
    mood: str

    @property
    def palette(self) -> str:
        """E.g. ``"muted palette of teal, grey and white"``."""
        names = list(self.colours)
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        return f"{self.mood} palette of {listed}".strip()

    @property
    def fallback(self) -> str:
        """A plain phrase for an image the model found nothing to say about."""
        return f"an image in {' and '.join(self.colours[:2])} tones, {self.light}"


def look_of(image: Image.Image) -> Look:
    """Measure the dominant colours, brightness, contrast and saturation of ``image``."""
    small = image.convert("RGB").resize((48, 48), Image.Resampling.BILINEAR)
    quantized = small.quantize(colors=4, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    names: list[str] = []
    for _count, index in sorted(quantized.getcolors() or [], reverse=True):
        start = 3 * cast(int, index)
        rgb = palette[start : start + 3]
        name = _colour_name(*rgb) if len(rgb) == 3 else "grey"
        if name not in names:
            names.append(name)
    grey = ImageStat.Stat(small.convert("L"))
    brightness, contrast = grey.mean[0], grey.stddev[0]
    saturation = ImageStat.Stat(small.convert("HSV")).mean[1]
    lights = ((70, "low-key light"), (115, "dim moody light"), (191, "soft even light"))
    key = next((name for bound, name in lights if brightness < bound), "bright high-key light")
    spread = "high contrast" if contrast > 70 else "low contrast" if contrast < 25 else ""
    mood = "vivid" if saturation > 140 else "muted" if saturation < 50 else ""
    return Look(tuple(names[:3]) or ("grey",), ", ".join(filter(None, (key, spread))), mood)


def _bounded(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: at its last whole sentence when that keeps at
    least a third of it, else at a word boundary."""
    if len(text) <= limit:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text) if m.end() <= limit]
    if ends and ends[-1] >= limit // 3:
        return text[: ends[-1]]
    cut = text.rfind(" ", 0, limit + 1)
    return text[: cut if cut > 0 else limit].rstrip(" ,;:-")


def whole_sentences(text: str) -> str:
    """``text`` without an unfinished last sentence (a caption stopped by its token bound),
    when what stays is at least a third of it."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]] if ends and ends[-1] >= len(text) // 3 else text


def clean_prompt(text: str, limit: int = MAX_PROMPT_CHARS) -> str:
    """A model's caption as a prompt: special tokens out, whitespace collapsed, no "The
    image shows" opening, at most ``limit`` characters (cut at a sentence when it can)."""
    text = " ".join(_SPECIAL_TOKEN.sub(" ", text).split())
    text = _LEAD_IN.sub("", text).strip(" ,;:-")
    return _bounded(text, limit)


def prompt_key(text: str) -> str:
    """What two prompts are compared by: case, spacing and final punctuation aside."""
    return " ".join(text.casefold().split()).rstrip(" .!,;")


def _with(text: str, extra: str, limit: int = MAX_PROMPT_CHARS) -> str:
    head = _bounded(text, limit - len(extra) - 2).rstrip(" ,;:.")
    return f"{head}, {extra}" if head else extra


def make_distinct(prompts: list[str], look: Look) -> list[str]:
    """Never empty (the pixels' phrase instead) and pairwise distinct: a repeat gets the
    first of the palette, the light, a framing or a variation number that makes it new."""
    extras = [look.palette, look.light, "close view", "wide view"]
    extras += [f"variation {n}" for n in range(2, len(prompts) + 2)]
    result: list[str] = []
    seen: set[str] = set()
    for text in prompts:
        text = _bounded(" ".join(text.split()), MAX_PROMPT_CHARS) or look.fallback
        candidates = [text] + [_with(text, extra) for extra in extras if extra]
        chosen = next(c for c in candidates if prompt_key(c) not in seen)
        seen.add(prompt_key(chosen))
        result.append(chosen)
    return result


def _clashes(prompts: list[str]) -> list[int]:
    """Indices of the prompts that are empty or repeat an earlier one."""
    keys = [prompt_key(p) for p in prompts]
    return [k for k, key in enumerate(keys) if not key or key in keys[:k]]


def _derive(seed: int, angle: int, attempt: int) -> int:
    return (seed * 1_000_003 + angle * 7_919 + attempt * 104_729) % 2**63


class _GumbelNoise:
    """A logits processor: Gumbel(0, 1) noise from its own seeded generator (drawn on the
    CPU, so a seed means the same on every device); argmax after it samples."""

    def __init__(self, seed: int) -> None:
        import torch

        self._generator = torch.Generator().manual_seed(seed)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        uniform = torch.rand(scores.shape, generator=self._generator).clamp_(1e-10, 1 - 1e-7)
        noise = -torch.log(-torch.log(uniform))
        return scores + noise.to(device=scores.device, dtype=scores.dtype)


class Describer:
    """Florence-2 (``Florence2ForConditionalGeneration`` + ``AutoProcessor``, a hub id or
    a local folder) turned into four /describe prompts. Blocking; one thread at a time.

    The four, from one seed: a short ``<CAPTION>``; a ``<DETAILED_CAPTION>``; a long
    ``<MORE_DETAILED_CAPTION>`` (both end at a whole sentence, within 300 characters); a second
    short caption followed by the image's palette and light as its pixels measure them
    (dominant colour names, vivid or muted, brightness and contrast: ``look_of``)."""

    def __init__(self, source: str, device_setting: str = "auto") -> None:
        self.source = source
        self.device_setting = device_setting
        self.device = ""
        self._model: Any = None
        self._processor: Any = None
        self._failure = ""
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load model and processor (once; half precision on CUDA). A failure is kept and
        raised again as ``DescribeUnavailable`` on every later call."""
        with self._lock:
            if self._model is not None:
                return
            if self._failure:
                raise DescribeUnavailable(self._failure)
            try:
                import torch
                from transformers import AutoProcessor, Florence2ForConditionalGeneration

                florence: Any = Florence2ForConditionalGeneration
                device = pick_device(self.device_setting)
                dtype = torch.float16 if device.startswith("cuda") else torch.float32
                with LOADING:  # never beside another thread's load (engine.loading)
                    model = florence.from_pretrained(self.source, dtype=dtype)
                    processor = AutoProcessor.from_pretrained(self.source)
                model = model.to(device).eval()
            except Exception as exc:
                self._failure = (
                    f"/describe is unavailable: the describe model {self.source!r} "
                    f"(DESCRIBE_MODEL) could not be loaded: {type(exc).__name__}: {exc}"
                )
                raise DescribeUnavailable(self._failure) from exc
            self._model, self._processor, self.device = model, processor, device
            logger.info("describe model %s loaded on %s", self.source, device)

    def describe(self, image: Image.Image, seed: int) -> list[str]:
        """Four distinct, non-empty prompts (at most 300 characters each) for ``image``;
        the same seed gives the same four. Loads the model on first use."""
        self.load()
        picture = shrink(image)
        look = look_of(picture)
        prompts = [self._prompt(k, picture, look, _derive(seed, k, 0)) for k in range(4)]
        for attempt in range(1, MAX_RESAMPLES + 1):
            clashes = _clashes(prompts)
            if not clashes:
                break
            for k in clashes:
                prompts[k] = self._prompt(k, picture, look, _derive(seed, k, attempt))
        return make_distinct(prompts, look)

    def _prompt(self, angle: int, picture: Image.Image, look: Look, seed: int) -> str:
        task, max_new_tokens = ANGLES[angle]
        text = clean_prompt(self._caption(picture, task, max_new_tokens, seed))
        if angle in (1, 2):  # the detailed ones end at a whole sentence
            text = whole_sentences(text)
        if angle == 3:
            return _with(text, f"{look.palette}, {look.light}")
        return text

    def _caption(self, picture: Image.Image, task: str, max_new_tokens: int, seed: int) -> str:
        """One sampled Florence-2 answer to ``task``, special tokens dropped."""
        import torch
        from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

        inputs = self._processor(text=task, images=picture, return_tensors="pt")
        inputs = {key: value.to(self.device) for key, value in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(self._model.dtype)
        sampler = LogitsProcessorList(
            [TemperatureLogitsWarper(_TEMPERATURE), TopPLogitsWarper(_TOP_P), _GumbelNoise(seed)]
        )
        with torch.inference_mode():
            output = self._model.generate(
                **inputs,
                do_sample=False,  # the argmax over Gumbel-noised logits is the sample
                num_beams=1,
                max_new_tokens=max_new_tokens,
                no_repeat_ngram_size=3,
                logits_processor=sampler,
            )
        return str(self._processor.batch_decode(output, skip_special_tokens=True)[0])


class ImageDescriber(Protocol):
    """What ``DescribeService`` runs on its thread (``Describer`` in the product)."""

    def load(self) -> None: ...

    def describe(self, image: Image.Image, seed: int) -> list[str]: ...


class DescribeService:
    """The asyncio face of a describer: one dedicated ``describe`` thread of its own (not
    the loop's default executor, not an image worker) and at most ``max_pending``
    requests on it; ``start`` / ``stop`` bracket its life."""

    def __init__(
        self, describer: ImageDescriber, *, max_pending: int = 8, warm: bool = True
    ) -> None:
        self.describer = describer
        self.max_pending = max_pending
        self.warm = warm
        self._executor: ThreadPoolExecutor | None = None
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Requests queued or running on the describe thread."""
        return self._pending

    async def start(self) -> None:
        """Start the thread; with ``warm``, load the model on it in the background (a
        failure is logged here and raised by the first ``describe``)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="describe")
        if self.warm:
            self._executor.submit(self.describer.load).add_done_callback(self._warmed)

    def _warmed(self, future: Future[None]) -> None:
        error = None if future.cancelled() else future.exception()
        if error is not None:
            logger.error("%s", error)

    async def describe(self, image: Image.Image, seed: int) -> list[str]:
        """Four prompts for ``image`` from its thread; ``DescribeBusy`` at once when
        ``max_pending`` requests already wait, ``DescribeUnavailable`` if the model
        cannot load."""
        if self._executor is None:
            raise RuntimeError("DescribeService.describe before start()")
        with self._lock:
            if self._pending >= self.max_pending:
                raise DescribeBusy(
                    f"/describe is busy: {self._pending} images are already waiting to be "
                    "described. Try again in a moment."
                )
            self._pending += 1
        try:
            future = self._executor.submit(self.describer.describe, image, seed)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _future: Future[list[str]] | None) -> None:
        # Counted until the thread is done with it, even when the caller stopped waiting.
        with self._lock:
            self._pending -= 1

    async def stop(self) -> None:
        """Drop what has not started, wait for what runs, and end the thread."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

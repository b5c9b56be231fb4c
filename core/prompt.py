"""The Midjourney-style prompt parser: ``a fox in snow --ar 3:2 --seed 7 --no people``.

Discord-free and pure, so it is cheap enough to run before the interaction is deferred.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from core.errors import BadParameter
from core.permutations import MAX_JOBS, expand_prompt
from core.wordfilter.fold import THIN_SPACES
from engine.types import MAX_CHAOS, MAX_LORA_WEIGHT, MAX_LORAS

_THIN = dict.fromkeys(map(ord, THIN_SPACES))

MAX_PROMPT_CHARS = 1500
MAX_NEGATIVE_CHARS = 1500
MAX_SEED = 2**32 - 1
MIN_CFG, MAX_CFG = 0.0, 20.0
MAX_ASPECT = 4.0  # ratios between 1:4 and 4:1
MAX_IMAGE_WEIGHT = 2.0

# `--name` at the start or after whitespace, followed by a letter. Phones turn `--` into
# an em or en dash; those are accepted too.
_PARAM = re.compile(r"(?<!\S)(?:--|—|–)(?P<name>[A-Za-z][A-Za-z0-9_-]*)(?P<eq>=)?")
_ASPECT = re.compile(r"^(\d{1,5})\s*:\s*(\d{1,5})$")
_INTEGER = re.compile(r"^[+]?\d+$")
# What SQLite cannot keep as UTF-8 text: a surrogate code point (half of a character cut in
# two, which a client's JSON can still carry) cannot be encoded, and a NUL ends a C string.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

KNOWN_PARAMETERS: tuple[str, ...] = ("--ar", "--seed", "--no", "--steps", "--cfg", "--iw")
KNOWN_PARAMETERS += ("--tile", "--repeat", "--model", "--lora", "--chaos")
KNOWN_PARAMETERS += ("--sref", "--sw", "--oref", "--ow", "--video", "--motion", "--loop", "--end")
KNOWN_PARAMETERS += ("--fast", "--relax", "--draft")
FLAGS = ("--tile", "--video", "--loop", "--fast", "--relax", "--draft")  # take no value
REPEATABLE = ("--lora",)  # parameters that may be given more than once
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # a model's alias, a LoRA's name
# --sref/--oref: image N of a job (``ID:N``), or an image's link (its host is checked
# against MEDIA_HOSTS by the core, before anything is fetched).
_JOB_IMAGE = re.compile(r"^(\d{1,18}):(\d{1,2})$")  # ids within SQLite's integers
MAX_URL_CHARS = 1000
MAX_STYLE_REFS = 4
MAX_REFERENCE_WEIGHT = 1000


@dataclass(frozen=True, slots=True)
class ParsedPrompt:
    """A prompt and the parameters it set; None means "not given, use the default"."""

    prompt: str
    negative: str | None = None
    aspect: tuple[int, int] | None = None
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None
    image_weight: float | None = None
    tile: bool = False
    repeat: int = 1
    model: str | None = None  # an alias of MODELS (checked against them by the core)
    loras: tuple[tuple[str, float], ...] = ()  # LoRAs of LORA_DIR by name, with weights
    chaos: int | None = None  # how different the four images are (0..100)
    style_refs: tuple[str, ...] = ()  # --sref: ``ID:N`` or image links, as typed
    style_weight: int | None = None  # --sw 0..1000
    omni_ref: str | None = None  # --oref
    omni_weight: int | None = None  # --ow 1..1000
    video: bool = False  # --video: animate the image prompt (a clip)
    motion: str | None = None  # --motion low|high
    loop: bool = False  # --loop: the clip ends on its first frame
    end: str | None = None  # --end ID:N: the clip ends on that image
    mode: str = ""  # --fast or --relax: this job's mode ("": the member's /settings mode)
    draft: bool = False  # --draft: half the side, half the steps; E1-E4 enhance


def check_storable(text: str, name: str) -> str:
    """``text`` when every character of it can be stored; else ``BadParameter`` naming
    ``name`` and the character (by its code, never the character itself)."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return text
    char = found.group()
    why = "a NUL character" if char == "\x00" else "half of a character that was cut in two"
    subject = "The prompt" if name == "prompt" else f"`{name}`"
    raise BadParameter(
        name,
        f"{subject} contains a character I can't store (U+{ord(char):04X}, {why}). "
        "Remove it, or type the text again, and try again.",
    )


def parse_aspect(value: str, name: str = "--ar") -> tuple[int, int]:
    """``W:H`` with whole numbers and a ratio between 1:4 and 4:1."""
    rule = f"`{name}` takes two whole numbers like `3:2`, with a ratio between 1:4 and 4:1"
    match = _ASPECT.match(check_storable(value, name).strip())
    if not match:
        raise BadParameter(name, f"`{name} {value}` is not an aspect ratio: {rule}.")
    width, height = int(match.group(1)), int(match.group(2))
    if width == 0 or height == 0:
        raise BadParameter(name, f"`{name} {value}` has a zero side: {rule}.")
    if not 1 / MAX_ASPECT <= width / height <= MAX_ASPECT:
        raise BadParameter(name, f"`{name} {value}` is too narrow or too wide: {rule}.")
    divisor = math.gcd(width, height)
    return width // divisor, height // divisor


def parse_int(value: str, name: str, low: int, high: int) -> int:
    """A whole number in ``low..high``."""
    rule = f"`{name}` takes a whole number from {low} to {high}"
    text = check_storable(value, name).strip()
    if not _INTEGER.match(text):
        raise BadParameter(name, f"`{name} {value}` is not a whole number: {rule}.")
    number = int(text)
    if not low <= number <= high:
        raise BadParameter(name, f"`{name} {value}` is out of range: {rule}.")
    return number


def parse_float(value: str, name: str, low: float, high: float) -> float:
    """A finite number in ``low..high``."""
    rule = f"`{name}` takes a number from {low:g} to {high:g}"
    try:
        number = float(check_storable(value, name).strip())
    except ValueError:
        raise BadParameter(name, f"`{name} {value}` is not a number: {rule}.") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise BadParameter(name, f"`{name} {value}` is out of range: {rule}.")
    return number


def collapse_spaces(text: str) -> str:
    """``text`` with every run of spaces one space, and spaces narrower than a letter
    dropped (``nu\u200ade`` is seen, and drawn, as ``nude``, not ``nu de``)."""
    return " ".join(text.translate(_THIN).split())


def check_negative(value: str, name: str = "--no") -> str:
    """A negative prompt: some text, at most ``MAX_NEGATIVE_CHARS``, all of it storable."""
    text = collapse_spaces(check_storable(value, name))
    if not text:
        raise BadParameter(name, f"`{name}` needs text after it, e.g. `{name} people, text`.")
    if len(text) > MAX_NEGATIVE_CHARS:
        raise BadParameter(
            name,
            f"`{name}` is {len(text)} characters long; the most is {MAX_NEGATIVE_CHARS}.",
        )
    return text


def parse_prompt(text: str, *, max_steps: int) -> ParsedPrompt:
    """Split ``text`` into the prompt and its parameters, checking every bound.

    Raises ``BadParameter`` naming the parameter and its allowed range.
    """
    check_storable(text, "prompt")
    matches = list(_PARAM.finditer(text))
    prompt_end = matches[0].start() if matches else len(text)
    prompt = collapse_spaces(text[:prompt_end])
    values: dict[str, object] = {}
    for position, match in enumerate(matches):
        name = "--" + match.group("name").lower()
        end = matches[position + 1].start() if position + 1 < len(matches) else len(text)
        raw = text[match.end() : end].strip()
        if name not in KNOWN_PARAMETERS:
            known = ", ".join(f"`{p}`" for p in KNOWN_PARAMETERS)
            raise BadParameter(name, f"`{name}` is not a parameter I know; use {known}.")
        if name in values and name not in REPEATABLE:
            raise BadParameter(name, f"`{name}` is given twice; give it once.")
        if name == "--no":
            values[name] = check_negative(raw)
            continue
        if name == "--end":
            [values[name]] = parse_references(raw, name)  # one ID:N (checked by the core)
            continue
        if name in ("--sref", "--oref"):
            values[name] = parse_references(raw, name)
            continue
        if name in FLAGS:
            if raw:
                raise BadParameter(
                    name,
                    f"`{name}` takes no value (found `{_clip(raw)}` after it). "
                    "Write the prompt first and the parameters after it.",
                )
            values[name] = True
            continue
        value, _, rest = raw.partition(" ")
        if not value:
            raise BadParameter(name, f"`{name}` needs a value: {_rule(name, max_steps)}.")
        if rest.strip():
            raise BadParameter(
                name,
                f"unexpected text after `{name} {value}`: `{_clip(rest.strip())}`. "
                "Write the prompt first and the parameters after it.",
            )
        if name == "--lora":
            loras = values.setdefault(name, [])
            loras.append(parse_lora(value))  # type: ignore[attr-defined]
            continue
        values[name] = _parse_value(name, value, max_steps)
    # In one order whatever order they were typed in: the same set fuses, and switches
    # nothing on the worker.
    loras = tuple(sorted(values.get("--lora", ())))  # type: ignore[call-overload]
    if len(loras) > MAX_LORAS or len({n for n, _ in loras}) < len(loras):
        raise BadParameter(
            "--lora", f"At most {MAX_LORAS} LoRAs per prompt, each named once (got {len(loras)})."
        )
    if values.get("--fast") and values.get("--relax"):
        raise BadParameter("--relax", "Use `--fast` or `--relax`, not both.")
    if not prompt:
        raise BadParameter(
            "prompt",
            "The prompt is empty: describe what to draw before the parameters, "
            "e.g. `a fox in snow --ar 3:2`.",
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadParameter(
            "prompt",
            f"The prompt is {len(prompt)} characters long; the most is {MAX_PROMPT_CHARS} "
            "(parameters not counted).",
        )
    return ParsedPrompt(
        prompt=prompt,
        negative=values.get("--no"),  # type: ignore[arg-type]
        aspect=values.get("--ar"),  # type: ignore[arg-type]
        seed=values.get("--seed"),  # type: ignore[arg-type]
        steps=values.get("--steps"),  # type: ignore[arg-type]
        cfg=values.get("--cfg"),  # type: ignore[arg-type]
        image_weight=values.get("--iw"),  # type: ignore[arg-type]
        tile=bool(values.get("--tile")),
        repeat=values.get("--repeat", 1),  # type: ignore[arg-type]
        model=values.get("--model"),  # type: ignore[arg-type]
        loras=loras,
        chaos=values.get("--chaos"),  # type: ignore[arg-type]
        video=bool(values.get("--video")),
        motion=values.get("--motion"),  # type: ignore[arg-type]
        loop=bool(values.get("--loop")),
        end=values.get("--end"),  # type: ignore[arg-type]
        style_refs=values.get("--sref", ()),  # type: ignore[arg-type]
        style_weight=values.get("--sw"),  # type: ignore[arg-type]
        omni_ref=values.get("--oref", (None,))[0],  # type: ignore[index]
        omni_weight=values.get("--ow"),  # type: ignore[arg-type]
        mode="relax" if values.get("--relax") else "fast" if values.get("--fast") else "",
        draft=bool(values.get("--draft")),
    )


def parse_references(raw: str, name: str) -> tuple[str, ...]:
    """The references after ``--sref`` (1..4) or ``--oref`` (one): each ``ID:N`` (image
    N of a job) or an ``http(s)`` link; ``BadParameter`` saying what is wrong."""
    parts = raw.split()
    most = MAX_STYLE_REFS if name == "--sref" else 1
    if not parts:
        raise BadParameter(name, f"`{name}` needs {_rule(name, 0)}.")
    if len(parts) > most:
        raise BadParameter(
            name,
            f"`{name}` takes at most {most} image(s) (got {len(parts)}). "
            "Write the prompt first and the parameters after it.",
        )
    for part in parts:
        text = check_storable(part, name)
        match = _JOB_IMAGE.match(text)
        if match and 1 <= int(match.group(2)) <= 4 and int(match.group(1)) >= 1:
            continue
        url = text.lower().startswith(("https://", "http://"))
        if url and len(text) <= MAX_URL_CHARS:
            continue
        raise BadParameter(name, f"`{name} {_clip(text)}` is not an image: {_rule(name, 0)}.")
    return tuple(parts)


def parse_lora(value: str) -> tuple[str, float]:
    """``NAME[:WEIGHT]`` as (name, weight), the weight 0..2, 1 when not given."""
    name, sep, weight = value.partition(":")
    if not _NAME.fullmatch(name):
        raise BadParameter("--lora", f"`--lora` needs a LoRA's name: {_rule('--lora', 0)}.")
    if not sep:
        return name, 1.0
    return name, parse_float(weight, "--lora", 0.0, MAX_LORA_WEIGHT)


def _parse_value(name: str, value: str, max_steps: int) -> object:
    if name == "--ar":
        return parse_aspect(value)
    if name == "--seed":
        return parse_int(value, name, 0, MAX_SEED)
    if name == "--steps":
        return parse_int(value, name, 1, max_steps)
    if name == "--repeat":
        return parse_int(value, name, 1, MAX_JOBS)
    if name == "--chaos":
        return parse_int(value, name, 0, MAX_CHAOS)
    if name == "--motion":
        if value.lower() not in ("low", "high"):
            raise BadParameter(
                name, f"`--motion {_clip(value)}` is not a motion: {_rule(name, 0)}."
            )
        return value.lower()
    if name == "--sw":
        return parse_int(value, name, 0, MAX_REFERENCE_WEIGHT)
    if name == "--ow":
        return parse_int(value, name, 1, MAX_REFERENCE_WEIGHT)
    if name == "--iw":
        return parse_float(value, name, 0.0, MAX_IMAGE_WEIGHT)
    if name == "--model":
        if not _NAME.fullmatch(value):
            raise BadParameter(name, f"`--model` needs {_rule(name, max_steps)}.")
        return value.lower()
    return parse_float(value, name, MIN_CFG, MAX_CFG)


def _rule(name: str, max_steps: int) -> str:
    return {
        "--ar": "two whole numbers like `3:2`, with a ratio between 1:4 and 4:1",
        "--seed": f"a whole number from 0 to {MAX_SEED}",
        "--steps": f"a whole number from 1 to {max_steps}",
        "--cfg": f"a number from {MIN_CFG:g} to {MAX_CFG:g}",
        "--iw": f"a number from 0 to {MAX_IMAGE_WEIGHT:g}",
        "--repeat": f"a whole number from 1 to {MAX_JOBS}",
        "--chaos": f"a whole number from 0 to {MAX_CHAOS}",
        "--motion": "`low` or `high`",
        "--end": "one image of a job here, `ID:N` (image N of job ID, as /history shows it)",
        "--sw": f"a whole number from 0 to {MAX_REFERENCE_WEIGHT}",
        "--ow": f"a whole number from 1 to {MAX_REFERENCE_WEIGHT}",
        "--sref": (
            f"up to {MAX_STYLE_REFS} images, each `ID:N` (image N of a job here, as /history "
            "shows it) or the link of an image on Discord"
        ),
        "--oref": (
            "one image: `ID:N` (image N of a job here, as /history shows it) or the link "
            "of an image on Discord"
        ),
        "--model": "a model's name as /info lists them, like `--model flux`",
        "--lora": (
            f"a LoRA's name as /info lists them, with a weight from 0 to {MAX_LORA_WEIGHT:g} "
            "if you like: `--lora name` or `--lora name:0.7`"
        ),
    }[name]


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_prompt(
    prompt: str,
    *,
    negative: str = "",
    aspect: str | None = None,
    steps: int | None = None,
    cfg: float | None = None,
    tile: bool = False,
    chaos: int = 0,
) -> str:
    """The text a user would type for these settings (``parse_prompt`` reads it back the
    same): what remix and Custom Zoom forms start from."""
    parts = [prompt]
    if aspect:
        parts.append(f"--ar {aspect}")
    if steps is not None:
        parts.append(f"--steps {steps}")
    if cfg is not None:
        parts.append(f"--cfg {cfg:.10g}")
    if tile:
        parts.append("--tile")
    if chaos:
        parts.append(f"--chaos {chaos}")
    if negative:
        parts.append(f"--no {negative}")
    return " ".join(parts)


def parse_prompts(text: str, *, max_steps: int) -> list[ParsedPrompt]:
    """Every job a prompt asks for: its ``{}`` permutations, each ``--repeat`` times (at
    most ``MAX_JOBS`` in all), each parsed and bound-checked like ``parse_prompt``."""
    check_storable(text, "prompt")
    parsed = [parse_prompt(variant, max_steps=max_steps) for variant in expand_prompt(text)]
    count = sum(one.repeat for one in parsed)
    if count > MAX_JOBS:
        raise BadParameter(
            "--repeat",
            f"This prompt makes {count} jobs (`{{}}` and `--repeat` together); "
            f"the most is {MAX_JOBS}.",
        )
    return [one for one in parsed for _ in range(one.repeat)]

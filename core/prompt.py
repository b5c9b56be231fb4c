"""The Midjourney-style prompt parser: ``a fox in snow --ar 3:2 --seed 7 --no people``.

Discord-free and pure, so it is cheap enough to run before the interaction is deferred.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from core.errors import BadParameter

MAX_PROMPT_CHARS = 1500
MAX_NEGATIVE_CHARS = 1500
MAX_SEED = 2**32 - 1
MIN_CFG, MAX_CFG = 0.0, 20.0
MAX_ASPECT = 4.0  # ratios between 1:4 and 4:1

# `--name` at the start or after whitespace, followed by a letter. Phones turn `--` into
# an em or en dash; those are accepted too.
_PARAM = re.compile(r"(?<!\S)(?:--|—|–)(?P<name>[A-Za-z][A-Za-z0-9_-]*)(?P<eq>=)?")
_ASPECT = re.compile(r"^(\d{1,5})\s*:\s*(\d{1,5})$")
_INTEGER = re.compile(r"^[+]?\d+$")

KNOWN_PARAMETERS = ("--ar", "--seed", "--no", "--steps", "--cfg")


@dataclass(frozen=True, slots=True)
class ParsedPrompt:
    """A prompt and the parameters it set; None means "not given, use the default"."""

    prompt: str
    negative: str | None = None
    aspect: tuple[int, int] | None = None
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None


def parse_aspect(value: str, name: str = "--ar") -> tuple[int, int]:
    """``W:H`` with whole numbers and a ratio between 1:4 and 4:1."""
    rule = f"`{name}` takes two whole numbers like `3:2`, with a ratio between 1:4 and 4:1"
    match = _ASPECT.match(value.strip())
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
    text = value.strip()
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
        number = float(value.strip())
    except ValueError:
        raise BadParameter(name, f"`{name} {value}` is not a number: {rule}.") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise BadParameter(name, f"`{name} {value}` is out of range: {rule}.")
    return number


def check_negative(value: str, name: str = "--no") -> str:
    """A negative prompt: some text, at most ``MAX_NEGATIVE_CHARS``."""
    text = " ".join(value.split())
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
    matches = list(_PARAM.finditer(text))
    prompt_end = matches[0].start() if matches else len(text)
    prompt = " ".join(text[:prompt_end].split())
    values: dict[str, object] = {}
    for position, match in enumerate(matches):
        name = "--" + match.group("name").lower()
        end = matches[position + 1].start() if position + 1 < len(matches) else len(text)
        raw = text[match.end() : end].strip()
        if name not in KNOWN_PARAMETERS:
            known = ", ".join(f"`{p}`" for p in KNOWN_PARAMETERS)
            raise BadParameter(name, f"`{name}` is not a parameter I know; use {known}.")
        if name in values:
            raise BadParameter(name, f"`{name}` is given twice; give it once.")
        if name == "--no":
            values[name] = check_negative(raw)
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
        values[name] = _parse_value(name, value, max_steps)
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
    )


def _parse_value(name: str, value: str, max_steps: int) -> object:
    if name == "--ar":
        return parse_aspect(value)
    if name == "--seed":
        return parse_int(value, name, 0, MAX_SEED)
    if name == "--steps":
        return parse_int(value, name, 1, max_steps)
    return parse_float(value, name, MIN_CFG, MAX_CFG)


def _rule(name: str, max_steps: int) -> str:
    return {
        "--ar": "two whole numbers like `3:2`, with a ratio between 1:4 and 4:1",
        "--seed": f"a whole number from 0 to {MAX_SEED}",
        "--steps": f"a whole number from 1 to {max_steps}",
        "--cfg": f"a number from {MIN_CFG:g} to {MAX_CFG:g}",
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
    if negative:
        parts.append(f"--no {negative}")
    return " ".join(parts)

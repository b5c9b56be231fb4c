"""Message text for jobs: what users read while they wait and when the result lands."""

from __future__ import annotations

import re
import unicodedata
from typing import assert_never

from core.model import Job, JobStatus
from core.recipes import (
    Animate,
    Blend,
    Enhance,
    Extend,
    ImagePrompt,
    Imagine,
    Pan,
    Region,
    Reroll,
    Upscale,
    Variation,
    ZoomOut,
    made,
)

MAX_CONTENT = 2000
_PROMPT_IN_MESSAGE = 1500

# ASCII punctuation that Discord's markdown gives a meaning somewhere: formatting
# (* _ ~ | `), line starts (> # - + and "1."), masked links and images ([ ] ( ) !),
# mentions, channels, commands, timestamps and custom emoji (< @ #), URLs and emoji
# shortcodes (the ":" of "https://"). Discord shows "\x" as "x" for any such x, so
# escaping them all keeps the text as typed while nothing in it is live.
_ESCAPED = frozenset("\\*_~|`>#-+[]()<:@!")
# Line and paragraph separators (str.splitlines' set): an inline prompt stays one line.
_BREAKS = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+")
# Bidi embeddings, overrides and isolates: they reorder what follows (a disguised URL).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LIST_NUMBER = re.compile(r" *\d+(?=\.)")  # "1." at the start would begin a list
_ZWSP = "\u200b"  # as discord.utils.escape_mentions: "@\u200beveryone" pings nobody


def _plain(text: str) -> str:
    """One line without control characters: breaks become one space, tabs a space,
    other controls and bidi overrides are dropped."""
    kept = (
        " " if char == "\t" else char
        for char in text
        if char == "\t"
        or _BREAKS.match(char)
        or not (char in _BIDI or unicodedata.category(char) == "Cc")
    )
    return _BREAKS.sub(" ", "".join(kept))


def _escaped(text: str) -> list[str]:
    """``text`` as units that must stay whole: one character, or a backslash and the
    character it escapes (plus a zero-width space after the ``@`` of everyone/here)."""
    number = _LIST_NUMBER.match(text)
    list_dot = number.end() if number else -1
    units = []
    for index, char in enumerate(text):
        if char == "@" and text.startswith(("everyone", "here"), index + 1):
            units.append("\\@" + _ZWSP)
        elif char in _ESCAPED or index == list_dot:
            units.append("\\" + char)
        else:
            units.append(char)
    return units


def safe_prompt(text: str, limit: int = _PROMPT_IN_MESSAGE) -> str:
    """User text shown as plain text on one line: no markdown, masked links, URLs,
    mentions or pings; once Discord drops the escapes a reader sees what was typed.

    At most ``limit`` characters: a longer text is cut (after escaping, which lengthens
    it) between two escapes, never inside one, and ends with "…"."""
    units = _escaped(_plain(text))
    if sum(map(len, units)) <= limit:
        return "".join(units)
    if limit <= 0:
        return ""
    kept: list[str] = []
    room = limit - 1  # for the "…"
    for unit in units:
        if len(unit) > room:
            break
        kept.append(unit)
        room -= len(unit)
    return "".join(kept) + "…"


def _prompt(job: Job) -> str:
    if not job.prompt and isinstance(made(job.recipe), Blend):
        return "**Blend**"  # no text: the images are the prompt
    return f"**{safe_prompt(job.prompt)}**"


def _what(job: Job) -> str:
    """What a job made, in a few words (nothing for a plain /imagine)."""
    image = f"Image #{job.parent_index}"
    recipe = job.recipe
    match recipe:
        case Imagine():
            return _references(job)
        case Blend(images=count):
            return f"Blend of {count} images"
        case Variation(mode=mode):
            return f"Variations ({mode}) of image #{job.parent_index}"
        case Upscale(mode=mode):
            return f"{image} upscaled" + (" (creative)" if mode == "creative" else "")
        case Reroll():
            return "Rerolled"
        case ZoomOut(factor=factor):
            return f"{image} zoomed out {factor:g}x"
        case Pan(direction=direction):
            return f"{image} panned {direction}"
        case Region(cells=cells):
            return f"{image} varied in parts {', '.join(str(cell) for cell in cells)}"
        case Animate(source=source, motion=motion, loop=loop, end=end):
            ends = " · loop" if loop else f" · ends on {end.job}:{end.index}" if end else ""
            what = "Your image" if isinstance(source, ImagePrompt) else image
            return f"{what} animated ({motion} motion){ends}"
        case Extend(clip=clip, motion=motion):
            return f"Clip of job {clip} extended ({motion} motion)"
        case Enhance():
            return f"{image} of the draft, enhanced"
        case _:  # a new kind: the type checker points here (mypy, in .ci/run)
            assert_never(recipe)


def _references(job: Job) -> str:
    """What a job's references are, in a few words (style, omni), with their weights."""
    p = job.params
    roles = [role for role, _, _ in p.references]
    parts = []
    if "style" in roles:
        parts.append(f"style of {roles.count('style')} image(s) (--sw {p.style_weight})")
    if "omni" in roles:
        parts.append(f"omni reference (--ow {p.omni_weight})")
    return " · ".join(parts)


def _fit(text: str) -> str:
    return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1] + "…"


def _tag(job: Job, alias: str | None) -> str:
    """``job <id>``, the model's alias when it is not the default (``alias``), and relax
    mode (saying why when fast time ran out)."""
    tag = f"job {job.id} · {alias}" if alias else f"job {job.id}"
    if job.mode == "relax":
        tag += " · relax (your fast time is used up)" if job.moved else " · relax"
    return tag


def waiting_text(
    job: Job, position: int | None, percent: int | None = None, alias: str | None = None
) -> str:
    """The message while a job waits or runs."""
    if percent is not None:
        state = f"running: {percent}%"
    elif position is None or position == 0:
        state = "running…"
    elif position == 1:
        state = "queued: next up"
    else:
        state = f"queued: position {position}"
    what = _what(job)
    head = f"{_prompt(job)} - <@{job.user_id}>"
    detail = f"{what} · " if what else ""
    return _fit(f"{head}\n{detail}{_tag(job, alias)} · {state}")


def result_text(job: Job, alias: str | None = None) -> str:
    """The message that carries a finished job's images (or why there are none)."""
    p = job.params
    head = f"{_prompt(job)} - <@{job.user_id}>"
    what = _what(job)
    detail = f"{what} · " if what else ""
    if job.status == JobStatus.DONE:
        size = f"{p.width}x{p.height}"
        tail = f"{_tag(job, alias)} · seed {job.seed} · {size} · {p.steps} steps"
        if p.draft:
            tail += " · draft"
        if p.tile:
            tail += " · tile"
        if p.chaos:
            tail += f" · chaos {p.chaos}"
        return _fit(f"{head}\n{detail}{tail}")
    if job.status == JobStatus.CANCELLED:
        return _fit(f"{head}\n{detail}{_tag(job, alias)} · cancelled")
    reason = (job.error or "unknown error").splitlines()[0][:300]
    return _fit(
        f"{head}\n{detail}{_tag(job, alias)} · failed: {reason}\n"
        "Nothing was made. Try again, or change the prompt or its parameters."
    )


def retired_text(job: Job) -> str:
    """What the old waiting message says once the result was posted as a new message."""
    return _fit(f"{_prompt(job)} - <@{job.user_id}>\njob {job.id} · {job.status}: see below")

"""Message text for jobs: what users read while they wait and when the result lands."""

from __future__ import annotations

import discord

from storage.db import Job

MAX_CONTENT = 2000
_PROMPT_IN_MESSAGE = 1500


def safe_prompt(text: str, limit: int = _PROMPT_IN_MESSAGE) -> str:
    """User text shown as plain text: no markdown, masked links, mentions or pings."""
    text = discord.utils.escape_markdown(text)
    # Masked links ([free nitro](https://...)) are markdown too.
    text = text.replace("[", "\\[").replace("]", "\\]")
    text = discord.utils.escape_mentions(text)
    if len(text) > limit:
        # Cut after escaping (it lengthens the text), never inside an escape.
        text = text[: limit - 1].rstrip("\\") + "…"
    return text


def _prompt(job: Job) -> str:
    return f"**{safe_prompt(job.prompt)}**"


def _what(job: Job) -> str:
    p = job.params
    if job.kind == "variation":
        return f"Variations ({p.get('mode', 'strong')}) of image #{job.parent_index}"
    if job.kind == "upscale":
        mode = " (creative)" if p.get("mode") == "creative" else ""
        return f"Image #{job.parent_index} upscaled{mode}"
    if job.kind == "reroll":
        return "Rerolled"
    return ""


def _fit(text: str) -> str:
    return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1] + "…"


def waiting_text(job: Job, position: int | None, percent: int | None = None) -> str:
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
    return _fit(f"{head}\n{detail}job {job.id} · {state}")


def result_text(job: Job) -> str:
    """The message that carries a finished job's images (or why there are none)."""
    p = job.params
    head = f"{_prompt(job)} - <@{job.user_id}>"
    what = _what(job)
    detail = f"{what} · " if what else ""
    if job.status == "done":
        size = f"{p.get('width')}x{p.get('height')}"
        tail = f"job {job.id} · seed {job.seed} · {size} · {p.get('steps')} steps"
        return _fit(f"{head}\n{detail}{tail}")
    if job.status == "cancelled":
        return _fit(f"{head}\n{detail}job {job.id} · cancelled")
    reason = (job.error or "unknown error").splitlines()[0][:300]
    return _fit(
        f"{head}\n{detail}job {job.id} · failed: {reason}\n"
        "Nothing was made. Try again, or change the prompt or its parameters."
    )


def retired_text(job: Job) -> str:
    """What the old waiting message says once the result was posted as a new message."""
    return _fit(f"{_prompt(job)} - <@{job.user_id}>\njob {job.id} · {job.status}: see below")

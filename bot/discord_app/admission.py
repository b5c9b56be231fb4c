"""Admit first, then answer once: how ``/imagine`` and the job buttons reply.

The job is checked and its row committed before the interaction is answered, so that
whatever a user has seen survives a crash, and a refusal is only ever seen by the user:

- admitted within ``ANSWER_DEADLINE``: the answer is the job's own message (type 4,
  public, with ``Cancel``), later edited with progress and the result;
- refused within it: the answer is the refusal, ephemeral (the error handler);
- still not decided at the deadline (a locked database, a stalled disk): the bot holds
  the interaction with an ephemeral "thinking…" that only the user sees, so that
  Discord's 3 s are met whatever happens next. A refusal then replaces it, still private;
  an admitted job gets its message posted in the channel (a deferral's visibility cannot
  change, so the public message cannot be the response), and the user a private note
  that links to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord

from bot.discord_app.sending import SEND_ERRORS
from core.model import Job

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

logger = logging.getLogger(__name__)

# Discord drops an interaction not answered within 3 s; leave room for the answer itself.
ANSWER_DEADLINE = 2.0
# However late the interaction reached us (a clock off by a little), admission gets this.
MIN_DEADLINE = 0.5


async def admit_and_answer(
    interaction: discord.Interaction[ImagineBot],
    admit: Callable[[], Awaitable[Job | list[Job]]],
) -> None:
    """Run ``admit`` (checks and the committed rows), then answer ``interaction`` once.

    A refusal is raised, for the one error path (``errors.reply_error``) to answer
    privately: before any answer, or after the private deferral, whose visibility the
    first followup takes. Several jobs (``--repeat``, ``{}``): the first is the answer,
    each other one gets its own message in the channel, right below it."""
    bot = interaction.client
    # A task of its own: if the interaction's handler is cut off, the admission is not.
    task = asyncio.ensure_future(admit())
    if bot.metrics is not None:  # METRICS_PORT
        bot.metrics.time_admission(task)
    done, _ = await asyncio.wait({task}, timeout=answer_deadline(interaction))
    if task in done:
        first, *others = _jobs(task.result())
        await interaction.client.job_messages.track(first, interaction)
        for job in others:
            await bot.job_messages.post_waiting(job)
        return
    logger.warning(
        "interaction %s: admission is taking over %.1f s; holding it privately",
        interaction.id,
        bot.answer_deadline,
    )
    try:
        await interaction.response.defer(ephemeral=True, thinking=True)
    except SEND_ERRORS as exc:
        logger.warning("interaction %s: could not hold it: %s", interaction.id, exc)
    notes = []
    for job in _jobs(await task):
        message = await bot.job_messages.post_waiting(job)
        if message is not None:
            notes.append(f"Job {job.id} is queued: {message.jump_url}")
        else:
            notes.append(f"Job {job.id} is queued; its result will be posted in this channel.")
    note = "\n".join(notes)
    try:
        await interaction.followup.send(note, ephemeral=True)
    except SEND_ERRORS as exc:
        logger.info("interaction %s: could not send the private note: %s", interaction.id, exc)


def answer_deadline(interaction: discord.Interaction[ImagineBot]) -> float:
    """Seconds left to decide before holding ``interaction``: Discord's 3 s run from the
    user's action, so the time already spent getting here counts."""
    limit = interaction.client.answer_deadline
    age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
    return min(limit, max(MIN_DEADLINE, limit - max(0.0, age)))


def _jobs(admitted: Job | list[Job]) -> list[Job]:
    return admitted if isinstance(admitted, list) else [admitted]

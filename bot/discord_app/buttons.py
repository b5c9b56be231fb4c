"""Persistent buttons: the custom id carries ``action:job:index`` (``custom_ids.JOB_BUTTON``),
everything else is read back.

They are ``DynamicItem``s registered at start, so a button pressed on a message sent
before a restart is rebuilt from its custom id and works the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.discord_app.admission import admit_and_answer
from bot.discord_app.context import requester
from bot.discord_app.custom_ids import JOB_BUTTON, Image, Press, job_id
from bot.discord_app.forms import open_custom_zoom, open_region_picker, open_remix
from bot.discord_app.items import IdButton
from core.model import Action

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot


class JobButton(IdButton[Press], custom_id=JOB_BUTTON):
    """One button on a job's message: upscale, vary, reroll, zoom, pan, cancel, or the
    two that open a form (Vary (Region), Custom Zoom)."""

    async def run(self, interaction: discord.Interaction[ImagineBot]) -> None:  # type: ignore[override]
        """Start the child job (it belongs to whoever pressed), open its form (Vary
        (Region), Custom Zoom; with remix on, every button that makes new images from
        the prompt), or cancel the job."""
        press = self.value
        job_id(press.job)  # a forged id past SQLite's range: "There is no job N."
        jobs, who = interaction.client.services.jobs, requester(interaction)
        if press.action is Action.VARY_REGION:
            await open_region_picker(interaction, Image(press.job, press.index))
            return
        if press.action is Action.CUSTOM_ZOOM:
            await open_custom_zoom(interaction, Image(press.job, press.index))
            return
        if press.action.remixable and await interaction.client.services.users.remix(who):
            await open_remix(interaction, press)
            return
        if press.action is Action.CANCEL:
            await interaction.response.defer(ephemeral=True, thinking=True)
            job = await jobs.cancel(press.job, who)
            await interaction.followup.send(f"Job {job.id} is {job.status}.", ephemeral=True)
            return
        # Admitted first (row committed), answered once: the child job's own message, or
        # an ephemeral refusal; the pressed message is left as it is.
        index = press.index or None
        await admit_and_answer(interaction, lambda: jobs.press(who, press.action, press.job, index))


def _button(action: Action, job_id: int, index: int, label: str, **look: Any) -> JobButton:
    return JobButton(Press(action, job_id, index), label=label, **look)


def grid_view(job_id: int, draft: bool = False) -> discord.ui.View:
    """``U1 U2 U3 U4 🔄`` / ``V1 V2 V3 V4``; a draft's first row ``E1 E2 E3 E4 🔄``
    (Enhance: ``core.drafts``)."""
    view = discord.ui.View(timeout=None)
    first, letter = (Action.ENHANCE, "E") if draft else (Action.UPSCALE, "U")
    for index in range(1, 5):
        view.add_item(_button(first, job_id, index, f"{letter}{index}", row=0))
    view.add_item(_button(Action.REROLL, job_id, 0, "🔄", row=0))
    for index in range(1, 5):
        view.add_item(_button(Action.VARY_STRONG, job_id, index, f"V{index}", row=1))
    return view


def cancel_view(job_id: int) -> discord.ui.View:
    """``Cancel`` while a job waits or runs (its owner or an admin may press it)."""
    view = discord.ui.View(timeout=None)
    view.add_item(_button(Action.CANCEL, job_id, 0, "Cancel", style=discord.ButtonStyle.danger))
    return view


UPSCALE_ROWS = (
    (
        (Action.VARY_STRONG, "Vary (Strong)"),
        (Action.VARY_SUBTLE, "Vary (Subtle)"),
        (Action.VARY_REGION, "Vary (Region)"),
    ),
    (
        (Action.UPSCALE_CREATIVE, "Upscale (Creative)"),
        (Action.ZOOM_OUT_2, "Zoom Out 2x"),
        (Action.ZOOM_OUT_1_5, "Zoom Out 1.5x"),
        (Action.CUSTOM_ZOOM, "Custom Zoom"),
    ),
    (
        (Action.PAN_LEFT, "⬅️"),
        (Action.PAN_RIGHT, "➡️"),
        (Action.PAN_UP, "⬆️"),
        (Action.PAN_DOWN, "⬇️"),
    ),
)


ANIMATE_ROW = (
    (Action.ANIMATE_LOW, "Animate (Low motion)"),
    (Action.ANIMATE_HIGH, "Animate (High motion)"),
)
CLIP_ROW = (
    (Action.EXTEND_LOW, "Extend (Low motion)"),
    (Action.EXTEND_HIGH, "Extend (High motion)"),
    (Action.REROLL, "🔄"),
)


def upscale_view(job_id: int, *, animate: bool = False) -> discord.ui.View:
    """The rows on an upscaled image: vary / upscale again, zoom out / pan, and with a
    video model (``animate``) a fourth: Animate (Low/High motion)."""
    view = discord.ui.View(timeout=None)
    rows = (*UPSCALE_ROWS, ANIMATE_ROW) if animate else UPSCALE_ROWS
    for row, buttons in enumerate(rows):
        for action, label in buttons:
            view.add_item(_button(action, job_id, 1, label, row=row))
    return view


def clip_view(job_id: int) -> discord.ui.View:
    """A clip's buttons: Extend (Low/High motion) and 🔄 (the same clip, another seed)."""
    view = discord.ui.View(timeout=None)
    for action, label in CLIP_ROW:
        view.add_item(_button(action, job_id, 1, label, row=0))
    return view

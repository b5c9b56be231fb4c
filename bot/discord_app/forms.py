"""Forms: remix, Custom Zoom and the Vary (Region) picker.

Stateless, like the job buttons: every custom id carries the ids it needs (the job, the
image, the member who opened it, the chosen cells) and never text, so a form submitted
or a picker used after a restart works the same (their formats: ``custom_ids``). Modals
are not kept in discord.py's modal store (which a restart empties): the client routes
every modal submit by its custom id to the handler a feature registered
(``ImagineBot.add_form``), and answers one it does not know with a clear "expired".

- Remix (``/settings remix:True``): the buttons that make new images from the prompt
  first open a form with the job's prompt and parameters; the text submitted is checked
  like a new /imagine (core ``Jobs.press(remix=...)``).
- Custom Zoom: the prompt and the factor (1.0 to 2.0); ``--ar`` reshapes the canvas.
- Vary (Region): an ephemeral message with the image, its nine numbered cells, a
  multi-select of them, ``Prompt…`` (a form for the region's prompt) and ``Submit``.
  Only the member who opened it may use it.
"""

from __future__ import annotations

import dataclasses
import io
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_app.admission import admit_and_answer
from bot.discord_app.context import requester
from bot.discord_app.custom_ids import (
    FACTOR_FIELD,
    PROMPT_FIELD,
    REGION_FORM,
    REGION_PROMPT,
    REGION_SELECT,
    REGION_SUBMIT,
    REMIX_FORM,
    ZOOM_FORM,
    Image,
    Picker,
    Press,
    job_id,
    user_id,
)
from bot.discord_app.errors import GuardedSelect
from bot.discord_app.items import IdButton
from bot.discord_app.nsfw import filter_in
from core.errors import NotAllowed
from core.model import Action
from engine.types import MAX_ZOOM, MIN_ZOOM

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

MAX_TEXT_INPUT = 4000  # Discord's most for a text input
DEFAULT_ZOOM = "2"
CELL_NAMES = (
    "top left",
    "top",
    "top right",
    "left",
    "middle",
    "right",
    "bottom left",
    "bottom",
    "bottom right",
)
ACTION_NAMES = {
    Action.VARY_STRONG: "Vary (Strong)",
    Action.VARY_SUBTLE: "Vary (Subtle)",
    Action.REROLL: "🔄 new images",
    Action.ZOOM_OUT_2: "Zoom Out 2x",
    Action.ZOOM_OUT_1_5: "Zoom Out 1.5x",
    Action.PAN_LEFT: "Pan ⬅️",
    Action.PAN_RIGHT: "Pan ➡️",
    Action.PAN_UP: "Pan ⬆️",
    Action.PAN_DOWN: "Pan ⬇️",
    # The motion prompt of a clip (its parameters are the clip's own).
    Action.ANIMATE_LOW: "Animate (Low motion)",
    Action.ANIMATE_HIGH: "Animate (High motion)",
    Action.EXTEND_LOW: "Extend (Low motion)",
    Action.EXTEND_HIGH: "Extend (High motion)",
}
_CELL_VALUES = frozenset(str(cell) for cell in range(1, len(CELL_NAMES) + 1))


def _modal(title: str, custom_id: str, *fields: discord.ui.Label) -> discord.ui.Modal:
    modal = discord.ui.Modal(title=title, custom_id=custom_id)
    for field in fields:
        modal.add_item(field)
    # Submits are routed by custom id (``ImagineBot.on_form``), after a restart too: a
    # finished modal is not put in discord.py's store, which would answer it a second time.
    modal.stop()
    return modal


def _prompt_field(text: str, description: str) -> discord.ui.Label:
    return discord.ui.Label(
        text="Prompt",
        description=description,
        component=discord.ui.TextInput(
            custom_id=PROMPT_FIELD,
            style=discord.TextStyle.paragraph,
            default=text[:MAX_TEXT_INPUT],
            max_length=MAX_TEXT_INPUT,
        ),
    )


def form_values(interaction: discord.Interaction) -> dict[str, str]:
    """The submitted text inputs of a modal, by custom id (in labels or action rows)."""
    values: dict[str, str] = {}

    def walk(items: Any) -> None:
        for item in items or ():
            if isinstance(item.get("value"), str) and "custom_id" in item:
                values[item["custom_id"]] = item["value"]
            walk(item.get("components"))
            if isinstance(item.get("component"), dict):
                walk([item["component"]])

    walk((interaction.data or {}).get("components"))
    return values


# Remix and Custom Zoom: opened by a job button (buttons.JobButton).


async def open_remix(interaction: discord.Interaction[ImagineBot], press: Press) -> None:
    """The remix form of the pressed button, prefilled with the job's prompt and parameters."""
    text = await interaction.client.services.jobs.form_text(requester(interaction), press.job)
    modal = _modal(
        f"Remix: {ACTION_NAMES[press.action]}",
        REMIX_FORM.build(press),
        _prompt_field(text, "Edit the prompt and its parameters, as for /imagine."),
    )
    await interaction.response.send_modal(modal)


async def open_custom_zoom(interaction: discord.Interaction[ImagineBot], image: Image) -> None:
    """The Custom Zoom form: the prompt (an ``--ar`` reshapes the canvas) and the factor."""
    text = await interaction.client.services.jobs.form_text(requester(interaction), image.job)
    factor = discord.ui.Label(
        text="Zoom out by",
        description=f"A number from {MIN_ZOOM:.1f} to {MAX_ZOOM:.1f} (2 shows twice as much "
        "around the image).",
        component=discord.ui.TextInput(
            custom_id=FACTOR_FIELD, default=DEFAULT_ZOOM, min_length=1, max_length=8
        ),
    )
    prompt = _prompt_field(text, "Change --ar to give the new image another shape.")
    await interaction.response.send_modal(
        _modal("Custom Zoom", ZOOM_FORM.build(image), prompt, factor)
    )


async def submit_remix(interaction: discord.Interaction[ImagineBot], match: re.Match) -> None:
    """The remix form sent: the child job with the edited prompt (or an ephemeral refusal)."""
    press = REMIX_FORM.read(match)
    jobs, who = interaction.client.services.jobs, requester(interaction)
    text = form_values(interaction).get(PROMPT_FIELD, "")
    job, index = job_id(press.job), press.index or None
    await admit_and_answer(
        interaction, lambda: jobs.press(who, press.action, job, index, remix=text)
    )


async def submit_custom_zoom(interaction: discord.Interaction[ImagineBot], match: re.Match) -> None:
    """The Custom Zoom form sent."""
    image = ZOOM_FORM.read(match)
    jobs, who = interaction.client.services.jobs, requester(interaction)
    values = form_values(interaction)
    job, index = job_id(image.job), image.index or None
    await admit_and_answer(
        interaction,
        lambda: jobs.custom_zoom(
            who, job, index, values.get(PROMPT_FIELD, ""), values.get(FACTOR_FIELD, "")
        ),
    )


# Vary (Region): the picker.


def _picker_content(cells: tuple[int, ...]) -> str:
    if not cells:
        chosen = "none yet"
    else:
        chosen = ", ".join(f"{cell} ({CELL_NAMES[cell - 1]})" for cell in cells)
    return (
        "**Vary (Region)**: choose the parts of the image to redraw (the numbers on the "
        "picture), then `Submit`, or `Prompt…` to say what to draw there.\n"
        f"Chosen: {chosen}."
    )


def picker_view(picker: Picker) -> discord.ui.View:
    """The select of the nine cells (``picker.cells`` chosen) and the two buttons, which
    carry the cells."""
    view = discord.ui.View(timeout=None)
    view.add_item(RegionSelect(picker))
    none = not picker.cells
    view.add_item(RegionPromptButton(picker, label="Prompt…", disabled=none))
    view.add_item(
        RegionSubmitButton(picker, label="Submit", style=discord.ButtonStyle.primary, disabled=none)
    )
    return view


async def open_region_picker(interaction: discord.Interaction[ImagineBot], image: Image) -> None:
    """The picker, ephemeral, with the image and its numbered cells: a flagged image is
    blurred (as a spoiler) or grey outside NSFW channels, as its message shows it."""
    jobs = interaction.client.services.jobs
    mode = filter_in(interaction.client, interaction.channel_id)
    who = requester(interaction)
    picture, hidden = await jobs.region_picture(who, image.job, image.index or None, mode)
    name = "SPOILER_regions.png" if hidden and mode == "blur" else "regions.png"
    await interaction.response.send_message(
        _picker_content(()),
        file=discord.File(io.BytesIO(picture), filename=name),
        view=picker_view(Picker(image.job, image.index, interaction.user.id)),
        ephemeral=True,
    )


_EXPIRED_PICKER = "This picker has expired: press `Vary (Region)` again."


def _only_opener(interaction: discord.Interaction, picker: Picker) -> None:
    """A picker's item is its opener's alone; the ids in it are bounded first (a forged
    job id past SQLite's range: "There is no job N.")."""
    job_id(picker.job)
    if interaction.user.id != user_id(picker.user, _EXPIRED_PICKER):
        raise NotAllowed(
            "Only the member who opened this picker can use it; "
            "press `Vary (Region)` to open your own."
        )


class RegionSelect(GuardedSelect, template=REGION_SELECT.template):
    """The nine cells; choosing updates the picker (the buttons carry the cells)."""

    def __init__(self, picker: Picker) -> None:
        options = [
            discord.SelectOption(
                label=f"{cell} · {name}", value=str(cell), default=cell in picker.cells
            )
            for cell, name in enumerate(CELL_NAMES, start=1)
        ]
        super().__init__(
            discord.ui.Select(
                custom_id=REGION_SELECT.build(picker),
                placeholder="Parts to redraw",
                min_values=1,
                max_values=len(CELL_NAMES),
                options=options,
            )
        )
        self.picker = picker

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> RegionSelect:
        """Rebuilt from its custom id (after a restart too)."""
        return cls(REGION_SELECT.read(match))

    async def run(self, interaction: discord.Interaction[ImagineBot]) -> None:  # type: ignore[override]
        """Show the choice and carry it in the buttons."""
        _only_opener(interaction, self.picker)
        values = (interaction.data or {}).get("values") or []
        cells = tuple(sorted({int(v) for v in values if v in _CELL_VALUES}))
        await interaction.response.edit_message(
            content=_picker_content(cells),
            view=picker_view(dataclasses.replace(self.picker, cells=cells)),
        )


class RegionPromptButton(IdButton[Picker], custom_id=REGION_PROMPT):
    """``Prompt…``: the form for the region's prompt; sending it starts the job."""

    async def run(self, interaction: discord.Interaction[ImagineBot]) -> None:  # type: ignore[override]
        """Open the form, prefilled with the job's prompt."""
        picker = self.value
        _only_opener(interaction, picker)
        jobs = interaction.client.services.jobs
        text = await jobs.form_text(requester(interaction), picker.job)
        cells = ", ".join(str(cell) for cell in picker.cells)
        modal = _modal(
            "Vary (Region)",
            REGION_FORM.build(picker),
            _prompt_field(text, f"What to draw in parts {cells}."),
        )
        await interaction.response.send_modal(modal)


class RegionSubmitButton(IdButton[Picker], custom_id=REGION_SUBMIT):
    """``Submit``: the new grid with the chosen cells redrawn, with the job's prompt."""

    async def run(self, interaction: discord.Interaction[ImagineBot]) -> None:  # type: ignore[override]
        """Admit the job, then answer with its message (or refuse, ephemerally)."""
        picker = self.value
        _only_opener(interaction, picker)
        jobs, who = interaction.client.services.jobs, requester(interaction)
        await admit_and_answer(
            interaction,
            lambda: jobs.vary_region(who, picker.job, picker.index or None, picker.cells),
        )


async def submit_region(interaction: discord.Interaction[ImagineBot], match: re.Match) -> None:
    """The region's prompt form sent: the job with those cells and that prompt."""
    picker = REGION_FORM.read(match)
    _only_opener(interaction, picker)
    jobs, who = interaction.client.services.jobs, requester(interaction)
    text = form_values(interaction).get(PROMPT_FIELD, "")
    index = picker.index or None
    await admit_and_answer(
        interaction, lambda: jobs.vary_region(who, picker.job, index, picker.cells, text)
    )


def setup(bot: ImagineBot) -> None:
    """Register the forms' submits and the picker's items (after a restart too)."""
    bot.add_form(REMIX_FORM.pattern, submit_remix)
    bot.add_form(ZOOM_FORM.pattern, submit_custom_zoom)
    bot.add_form(REGION_FORM.pattern, submit_region)
    bot.add_dynamic_items(RegionSelect, RegionPromptButton, RegionSubmitButton)

"""Forms: remix, Custom Zoom and the Vary (Region) picker.

Stateless, like the job buttons: every custom id carries the ids it needs (the job, the
image, the member who opened it, the chosen cells) and never text, so a form submitted
or a picker used after a restart works the same. Modals are not kept in discord.py's
modal store (which a restart empties): the client routes every modal submit by its
custom id to the handler a feature registered (``ImagineBot.add_form``), and answers
one it does not know with a clear "expired".

- Remix (``/settings remix:True``): the buttons that make new images from the prompt
  first open a form with the job's prompt and parameters; the text submitted is checked
  like a new /imagine (core ``Jobs.press(remix=...)``).
- Custom Zoom: the prompt and the factor (1.0 to 2.0); ``--ar`` reshapes the canvas.
- Vary (Region): an ephemeral message with the image, its nine numbered cells, a
  multi-select of them, ``Prompt…`` (a form for the region's prompt) and ``Submit``.
  Only the member who opened it may use it.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_app.admission import admit_and_answer
from bot.discord_app.context import requester
from bot.discord_app.errors import GuardedButton, GuardedSelect
from bot.discord_app.ids import ID, job_id, user_id
from bot.discord_app.nsfw import filter_in
from core.errors import NotAllowed
from core.model import Action

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

MAX_CUSTOM_ID = 100
MAX_TEXT_INPUT = 4000  # Discord's most for a text input
PROMPT_FIELD, FACTOR_FIELD = "prompt", "factor"
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
}
_CELL_VALUES = frozenset(str(cell) for cell in range(1, len(CELL_NAMES) + 1))
_ID = ID  # any digits: bounded when read (ids.job_id, ids.user_id)
_INDEX = r"[0-4]"
_CELLS = r"[1-9]{0,9}"
# Modal custom ids: remix, Custom Zoom, the region's prompt.
REMIX_FORM = re.compile(rf"^fr:(?P<action>[vsrzyajkl]):(?P<job>{_ID}):(?P<index>{_INDEX})$")
ZOOM_FORM = re.compile(rf"^fz:(?P<job>{_ID}):(?P<index>{_INDEX})$")
REGION_FORM = re.compile(
    rf"^fg:(?P<job>{_ID}):(?P<index>{_INDEX}):(?P<user>{_ID}):(?P<cells>{_CELLS})$"
)


def _custom_id(text: str) -> str:
    assert len(text) <= MAX_CUSTOM_ID, text
    return text


def _modal(title: str, custom_id: str, *fields: discord.ui.Label) -> discord.ui.Modal:
    modal = discord.ui.Modal(title=title, custom_id=_custom_id(custom_id))
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


async def open_remix(
    interaction: discord.Interaction[ImagineBot], action: Action, job_id: int, index: int
) -> None:
    """The remix form of ``action`` on the job, prefilled with its prompt and parameters."""
    text = await interaction.client.services.jobs.form_text(requester(interaction), job_id)
    modal = _modal(
        f"Remix: {ACTION_NAMES[action]}",
        f"fr:{action.value}:{job_id}:{index}",
        _prompt_field(text, "Edit the prompt and its parameters, as for /imagine."),
    )
    await interaction.response.send_modal(modal)


async def open_custom_zoom(
    interaction: discord.Interaction[ImagineBot], job_id: int, index: int
) -> None:
    """The Custom Zoom form: the prompt (an ``--ar`` reshapes the canvas) and the factor."""
    text = await interaction.client.services.jobs.form_text(requester(interaction), job_id)
    factor = discord.ui.Label(
        text="Zoom out by",
        description="A number from 1.0 to 2.0 (2 shows twice as much around the image).",
        component=discord.ui.TextInput(
            custom_id=FACTOR_FIELD, default=DEFAULT_ZOOM, min_length=1, max_length=8
        ),
    )
    prompt = _prompt_field(text, "Change --ar to give the new image another shape.")
    await interaction.response.send_modal(
        _modal("Custom Zoom", f"fz:{job_id}:{index}", prompt, factor)
    )


async def submit_remix(interaction: discord.Interaction[ImagineBot], match: re.Match) -> None:
    """The remix form sent: the child job with the edited prompt (or an ephemeral refusal)."""
    jobs, who = interaction.client.services.jobs, requester(interaction)
    text = form_values(interaction).get(PROMPT_FIELD, "")
    job, index = job_id(match["job"]), int(match["index"]) or None
    await admit_and_answer(
        interaction, lambda: jobs.press(who, match["action"], job, index, remix=text)
    )


async def submit_custom_zoom(interaction: discord.Interaction[ImagineBot], match: re.Match) -> None:
    """The Custom Zoom form sent."""
    jobs, who = interaction.client.services.jobs, requester(interaction)
    values = form_values(interaction)
    job, index = job_id(match["job"]), int(match["index"]) or None
    await admit_and_answer(
        interaction,
        lambda: jobs.custom_zoom(
            who, job, index, values.get(PROMPT_FIELD, ""), values.get(FACTOR_FIELD, "")
        ),
    )


# Vary (Region): the picker.


def _cells_text(cells: tuple[int, ...]) -> str:
    return "".join(str(cell) for cell in cells)


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


def picker_view(job_id: int, index: int, user_id: int, cells: tuple[int, ...]) -> discord.ui.View:
    """The select of the nine cells (``cells`` chosen) and the two buttons."""
    view = discord.ui.View(timeout=None)
    view.add_item(RegionSelect(job_id, index, user_id, cells))
    for button in (RegionPromptButton, RegionSubmitButton):
        view.add_item(button(job_id, index, user_id, cells))
    return view


async def open_region_picker(
    interaction: discord.Interaction[ImagineBot], job_id: int, index: int
) -> None:
    """The picker, ephemeral, with the image and its numbered cells: a flagged image is
    blurred (as a spoiler) or grey outside NSFW channels, as its message shows it."""
    jobs = interaction.client.services.jobs
    mode = filter_in(interaction.client, interaction.channel_id)
    picture, hidden = await jobs.region_picture(requester(interaction), job_id, index or None, mode)
    name = "SPOILER_regions.png" if hidden and mode == "blur" else "regions.png"
    await interaction.response.send_message(
        _picker_content(()),
        file=discord.File(io.BytesIO(picture), filename=name),
        view=picker_view(job_id, index, interaction.user.id, ()),
        ephemeral=True,
    )


_EXPIRED_PICKER = "This picker has expired: press `Vary (Region)` again."


def _only_opener(interaction: discord.Interaction, opener: int, job: int) -> None:
    """A picker's item is its opener's alone; the ids in it are bounded first (a forged
    job id past SQLite's range: "There is no job N.")."""
    job_id(job)
    if interaction.user.id != user_id(opener, _EXPIRED_PICKER):
        raise NotAllowed(
            "Only the member who opened this picker can use it; "
            "press `Vary (Region)` to open your own."
        )


class RegionSelect(
    GuardedSelect,
    template=rf"^gs:(?P<job>{_ID}):(?P<index>{_INDEX}):(?P<user>{_ID})$",
):
    """The nine cells; choosing updates the picker (the buttons carry the cells)."""

    def __init__(self, job_id: int, index: int, user_id: int, cells: tuple[int, ...] = ()):
        options = [
            discord.SelectOption(label=f"{cell} · {name}", value=str(cell), default=cell in cells)
            for cell, name in enumerate(CELL_NAMES, start=1)
        ]
        super().__init__(
            discord.ui.Select(
                custom_id=_custom_id(f"gs:{job_id}:{index}:{user_id}"),
                placeholder="Parts to redraw",
                min_values=1,
                max_values=len(CELL_NAMES),
                options=options,
            )
        )
        self.job_id, self.index, self.user_id = job_id, index, user_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> RegionSelect:
        """Rebuilt from its custom id (after a restart too)."""
        return cls(int(match["job"]), int(match["index"]), int(match["user"]))

    async def run(self, interaction: discord.Interaction[ImagineBot]) -> None:  # type: ignore[override]
        """Show the choice and carry it in the buttons."""
        _only_opener(interaction, self.user_id, self.job_id)
        values = (interaction.data or {}).get("values") or []
        cells = tuple(sorted({int(v) for v in values if v in _CELL_VALUES}))
        await interaction.response.edit_message(
            content=_picker_content(cells),
            view=picker_view(self.job_id, self.index, self.user_id, cells),
        )


class _RegionButton(GuardedButton, template=r"(?!)"):
    """A button of the picker: the job, image, opener and chosen cells in its id."""

    _prefix = ""
    _label = ""
    _style = discord.ButtonStyle.secondary

    def __init__(self, job_id: int, index: int, user_id: int, cells: tuple[int, ...] = ()):
        super().__init__(
            discord.ui.Button(
                label=self._label,
                style=self._style,
                custom_id=_custom_id(
                    f"{self._prefix}:{job_id}:{index}:{user_id}:{_cells_text(cells)}"
                ),
                disabled=not cells,
            )
        )
        self.job_id, self.index, self.user_id, self.cells = job_id, index, user_id, cells

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> _RegionButton:
        """Rebuilt from its custom id (after a restart too)."""
        cells = tuple(int(c) for c in match["cells"])
        return cls(int(match["job"]), int(match["index"]), int(match["user"]), cells)


class RegionPromptButton(
    _RegionButton,
    template=rf"^gp:(?P<job>{_ID}):(?P<index>{_INDEX}):(?P<user>{_ID}):(?P<cells>{_CELLS})$",
):
    """``Prompt…``: the form for the region's prompt; sending it starts the job."""

    _prefix, _label = "gp", "Prompt…"

    async def run(self, interaction: discord.Interaction[ImagineBot]) -> None:  # type: ignore[override]
        """Open the form, prefilled with the job's prompt."""
        _only_opener(interaction, self.user_id, self.job_id)
        jobs = interaction.client.services.jobs
        text = await jobs.form_text(requester(interaction), self.job_id)
        cells = _cells_text(self.cells)
        modal = _modal(
            "Vary (Region)",
            f"fg:{self.job_id}:{self.index}:{self.user_id}:{cells}",
            _prompt_field(text, f"What to draw in parts {', '.join(cells)}."),
        )
        await interaction.response.send_modal(modal)


class RegionSubmitButton(
    _RegionButton,
    template=rf"^gb:(?P<job>{_ID}):(?P<index>{_INDEX}):(?P<user>{_ID}):(?P<cells>{_CELLS})$",
):
    """``Submit``: the new grid with the chosen cells redrawn, with the job's prompt."""

    _prefix, _label, _style = "gb", "Submit", discord.ButtonStyle.primary

    async def run(self, interaction: discord.Interaction[ImagineBot]) -> None:  # type: ignore[override]
        """Admit the job, then answer with its message (or refuse, ephemerally)."""
        _only_opener(interaction, self.user_id, self.job_id)
        jobs, who = interaction.client.services.jobs, requester(interaction)
        await admit_and_answer(
            interaction,
            lambda: jobs.vary_region(who, self.job_id, self.index or None, self.cells),
        )


async def submit_region(interaction: discord.Interaction[ImagineBot], match: re.Match) -> None:
    """The region's prompt form sent: the job with those cells and that prompt."""
    job, index = int(match["job"]), int(match["index"]) or None
    _only_opener(interaction, int(match["user"]), job)
    jobs, who = interaction.client.services.jobs, requester(interaction)
    text = form_values(interaction).get(PROMPT_FIELD, "")
    cells = tuple(int(c) for c in match["cells"])
    await admit_and_answer(interaction, lambda: jobs.vary_region(who, job, index, cells, text))


def setup(bot: ImagineBot) -> None:
    """Register the forms' submits and the picker's items (after a restart too)."""
    bot.add_form(REMIX_FORM, submit_remix)
    bot.add_form(ZOOM_FORM, submit_custom_zoom)
    bot.add_form(REGION_FORM, submit_region)
    bot.add_dynamic_items(RegionSelect, RegionPromptButton, RegionSubmitButton)

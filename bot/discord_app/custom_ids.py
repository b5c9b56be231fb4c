"""Every custom id the bot makes and reads back, and the bounding of the ids in them.

Discord gives each button, select, form (modal) and text input a custom id of at most
100 characters and sends it back when the component is used. The bot keeps no state for
them: an id carries the ids it needs (never text) and everything else is read back from
storage, so a component posted before a restart works after it. Each format below is
therefore a promise to messages already in Discord: change one only by still reading
the old one.

========================================  ==============================================
format                                    component
========================================  ==============================================
``<letter>:<job>:<index>``                a job button (U1, V1, 🔄, Vary (Strong), Zoom
                                          Out 2x, ⬅️, Cancel...): the letter is its
                                          ``core.model.Action`` (``buttons.JobButton``)
``fr:<letter>:<job>:<index>``             the remix form that button opens when remix is
                                          on (remixable letters only)
``fz:<job>:<index>``                      the Custom Zoom form
``gs:<job>:<index>:<user>``               Vary (Region) picker: the select of the cells
``gp:<job>:<index>:<user>:<cells>``       the picker's ``Prompt…`` button
``gb:<job>:<index>:<user>:<cells>``       the picker's ``Submit`` button
``fg:<job>:<index>:<user>:<cells>``       the region's prompt form (``Prompt…`` opens it)
``h:<user>:<page>``                       Previous / Next on a /history page
``bw:<page>``                             Previous / Next on /admin banword list (the
                                          server is the one it is pressed in)
``ds:<description>:<choice>``             a /describe answer's buttons: ``1``-``4`` (run
                                          that prompt), ``a`` (Imagine all), ``r`` (🔄)
``prompt``, ``factor``                    the text inputs inside the forms (read from a
                                          submitted form, never routed)
========================================  ==============================================

The fields: ``<letter>`` one ``Action`` value; ``<job>`` a job id; ``<user>`` a member's id
(the picker's opener; whose history); ``<index>`` the image, 0 for the job's own (an
upscale's, or 🔄 and Cancel on a grid) or 1 to 4 in a grid; ``<cells>`` the picker's
chosen cells, up to nine of the digits 1 to 9 (none yet: empty); ``<page>`` a page number
(up to 6 digits for /history, 4 for the word list).

Routing: the job buttons lead with one letter and a colon, every other format with two
letters and a colon, except /history's ``h:``, which no ``Action`` may take (⬅️ is ``a``).
Ids are read with the templates below (each is the ``template`` of one
``discord.ui.DynamicItem``, or a form's pattern given to ``ImagineBot.add_form``).
``<job>`` and ``<user>`` take any digits, so that a forged or stale id is still answered by
its own handler; ``job_id`` and ``user_id`` then bound them before any use: a job id past
SQLite's integer range answers like an unknown job, a user id past a snowflake's like an
expired page or picker, never with an exception (SQLite cannot even be asked about such a
number)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from core.errors import UnknownJob, UserError
from core.model import Action

MAX_CUSTOM_ID = 100  # Discord's most for any component's custom id
MAX_ID = 2**63 - 1  # SQLite's largest integer; Discord's snowflakes stay below it too
EXPIRED = "This has expired: use the command or the button again."
PROMPT_FIELD, FACTOR_FIELD = "prompt", "factor"  # the forms' text inputs

V = TypeVar("V")


class UnknownCustomId(ValueError):
    """A custom id in none of the formats (an unknown prefix or letter, or bad fields)."""


def job_id(digits: str | int) -> int:
    """The job id in ``digits``; ``UnknownJob`` ("There is no job N.") outside 1..MAX_ID."""
    number = int(digits)
    if not 0 < number <= MAX_ID:
        raise UnknownJob(f"There is no job {number}.")
    return number


def user_id(digits: str | int, expired: str = EXPIRED) -> int:
    """The user id in ``digits``; ``UserError(expired)`` outside a snowflake's range."""
    number = int(digits)
    if not 0 < number <= MAX_ID:
        raise UserError(expired)
    return number


# What the ids carry.


@dataclass(frozen=True, slots=True)
class Press:
    """A job button (or its remix form): its action, the job, the image (0: the job's)."""

    action: Action
    job: int
    index: int


@dataclass(frozen=True, slots=True)
class Image:
    """An image of a job (0: the job's own, 1 to 4: of its grid)."""

    job: int
    index: int


@dataclass(frozen=True, slots=True)
class Picker:
    """A Vary (Region) picker: the image, who opened it, the cells chosen so far."""

    job: int
    index: int
    user: int
    cells: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    """A page of a list; ``user``: whose (/history), 0 where the list is the server's."""

    page: int
    user: int = 0


@dataclass(frozen=True, slots=True)
class DescribeChoice:
    """A /describe answer's button: the description, and ``1``-``4``, ``a`` or ``r``."""

    description: int
    choice: str


@dataclass(frozen=True)
class Format(Generic[V]):
    """One format of custom id: the component, its prefix, the pattern of its fields
    (named groups), how a value is written into them and read back from a match."""

    component: str
    prefix: str  # with its colon; "" for the job buttons, whose letter leads
    fields: str = field(repr=False)
    write: Callable[[V], str] = field(repr=False)
    read: Callable[[re.Match[str]], V] = field(repr=False)
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(self.template))

    @property
    def template(self) -> str:
        """The anchored regular expression of the whole id (a ``DynamicItem`` template)."""
        return rf"^{re.escape(self.prefix)}{self.fields}$"

    def build(self, value: V) -> str:
        """The custom id of ``value``; ``ValueError`` if it would not fit Discord's 100
        characters or would not be read back as this format."""
        text = self.prefix + self.write(value)
        if len(text) > MAX_CUSTOM_ID:
            raise ValueError(f"custom id {text!r} is over {MAX_CUSTOM_ID} characters")
        if self.pattern.fullmatch(text) is None:
            raise ValueError(f"custom id {text!r} is not a {self.component}: {self.template}")
        return text

    def parse(self, custom_id: str) -> V:
        """The value in ``custom_id``; ``UnknownCustomId`` if it is not of this format."""
        match = self.pattern.fullmatch(custom_id)
        if match is None:
            raise UnknownCustomId(self._misfit(custom_id))
        return self.read(match)

    def _misfit(self, custom_id: str) -> str:
        return f"custom id {custom_id!r} is not a {self.component}: {self.template}"


def _letters(actions: list[Action]) -> str:
    return "[" + "".join(re.escape(action.value) for action in actions) + "]"


_ID = r"[0-9]+"  # any digits: bounded when used (job_id, user_id)
_INDEX = r"(?P<index>[0-4])"
_IMAGE = rf"(?P<job>{_ID}):{_INDEX}"
_OPENER = rf"{_IMAGE}:(?P<user>{_ID})"
_CHOSEN = rf"{_OPENER}:(?P<cells>[1-9]{{0,9}})"


def _press(match: re.Match[str]) -> Press:
    return Press(Action(match["action"]), int(match["job"]), int(match["index"]))


def _picker(match: re.Match[str]) -> Picker:
    cells = tuple(int(cell) for cell in match.groupdict().get("cells") or "")
    return Picker(int(match["job"]), int(match["index"]), int(match["user"]), cells)


def _write_press(press: Press) -> str:
    return f"{press.action.value}:{press.job}:{press.index}"


def _write_picker(picker: Picker) -> str:
    return f"{picker.job}:{picker.index}:{picker.user}"


def _write_chosen(picker: Picker) -> str:
    return _write_picker(picker) + ":" + "".join(str(cell) for cell in picker.cells)


def _chosen(component: str, prefix: str) -> Format[Picker]:
    return Format(component, prefix, _CHOSEN, _write_chosen, _picker)


JOB_BUTTON: Format[Press] = Format(
    "job button", "", rf"(?P<action>{_letters(list(Action))}):{_IMAGE}", _write_press, _press
)
REMIX_FORM: Format[Press] = Format(
    "remix form",
    "fr:",
    rf"(?P<action>{_letters([a for a in Action if a.remixable])}):{_IMAGE}",
    _write_press,
    _press,
)
ZOOM_FORM: Format[Image] = Format(
    "Custom Zoom form",
    "fz:",
    _IMAGE,
    lambda image: f"{image.job}:{image.index}",
    lambda match: Image(int(match["job"]), int(match["index"])),
)
REGION_SELECT: Format[Picker] = Format(
    "region picker's select", "gs:", _OPENER, _write_picker, _picker
)
REGION_PROMPT = _chosen("region picker's Prompt… button", "gp:")
REGION_SUBMIT = _chosen("region picker's Submit button", "gb:")
REGION_FORM = _chosen("region's prompt form", "fg:")
HISTORY_PAGE: Format[Page] = Format(
    "/history page button",
    "h:",
    rf"(?P<user>{_ID}):(?P<page>[0-9]{{1,6}})",
    lambda page: f"{page.user}:{page.page}",
    lambda match: Page(int(match["page"]), int(match["user"])),
)
WORD_PAGE: Format[Page] = Format(
    "word list page button",
    "bw:",
    r"(?P<page>[0-9]{1,4})",
    lambda page: str(page.page),
    lambda match: Page(int(match["page"])),
)
DESCRIBE_BUTTON: Format[DescribeChoice] = Format(
    "/describe button",
    "ds:",
    rf"(?P<description>{_ID}):(?P<choice>[1-4ar])",
    lambda value: f"{value.description}:{value.choice}",
    lambda match: DescribeChoice(int(match["description"]), match["choice"]),
)
FORMATS: tuple[Format[Any], ...] = (
    JOB_BUTTON,
    REMIX_FORM,
    ZOOM_FORM,
    REGION_SELECT,
    REGION_PROMPT,
    REGION_SUBMIT,
    REGION_FORM,
    HISTORY_PAGE,
    WORD_PAGE,
    DESCRIBE_BUTTON,
)


def parse(custom_id: str) -> tuple[Format[Any], Any]:
    """The format of ``custom_id`` and the value it carries; ``UnknownCustomId`` naming
    what is wrong: an unknown prefix or letter, or fields that do not fit its format."""
    head = custom_id.partition(":")[0]
    for format_ in FORMATS:
        match = format_.pattern.fullmatch(custom_id)
        if match is not None:
            return format_, format_.read(match)
    known = [f for f in FORMATS if f.prefix == head + ":"]
    if head in set(Action):
        known.append(JOB_BUTTON)
    if known:
        raise UnknownCustomId(known[0]._misfit(custom_id))
    if len(head) == 1:
        raise UnknownCustomId(
            f"custom id {custom_id!r}: {head!r} is no job button's letter (core.model.Action)"
        )
    raise UnknownCustomId(f"custom id {custom_id!r}: no format has the prefix {head!r}")

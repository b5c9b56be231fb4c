"""Persistent buttons: rebuilt from the custom id of the button pressed (as discord.py does
after a restart) they carry the same value, label and style; Previous / Next are
disabled at the ends."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from bot.discord_app.admin import WordPageButton
from bot.discord_app.buttons import JobButton
from bot.discord_app.custom_ids import Page, Picker, Press
from bot.discord_app.forms import RegionPromptButton, RegionSelect, RegionSubmitButton
from bot.discord_app.history import HistoryButton
from bot.discord_app.items import IdButton, previous_next
from core.model import Action

BUTTONS: list[tuple[type[IdButton[Any]], Any]] = [
    (JobButton, Press(Action.ZOOM_OUT_1_5, 2**63 - 1, 1)),
    (HistoryButton, Page(3, 42)),
    (WordPageButton, Page(7)),
    (RegionPromptButton, Picker(5, 2, 42, (1, 9))),
    (RegionSubmitButton, Picker(5, 0, 42, ())),
]


async def _rebuilt(cls: Any, pressed: discord.ui.Item[Any]) -> Any:
    match = cls.__discord_ui_compiled_template__.match(pressed.custom_id)  # type: ignore[attr-defined]
    assert match is not None
    return await cls.from_custom_id(None, pressed, match)  # type: ignore[arg-type]


@pytest.mark.parametrize(("cls", "value"), BUTTONS, ids=lambda x: getattr(x, "__name__", ""))
async def test_a_pressed_button_is_rebuilt_from_its_id(
    cls: type[IdButton[Any]], value: Any
) -> None:
    sent = cls(value, label="Zoom Out 1.5x", style=discord.ButtonStyle.danger)
    again = await _rebuilt(cls, sent.item)
    assert type(again) is cls and again.value == value
    assert again.custom_id == sent.custom_id
    assert (again.item.label, again.item.style) == ("Zoom Out 1.5x", discord.ButtonStyle.danger)


async def test_the_region_select_is_rebuilt_from_its_id() -> None:
    sent = RegionSelect(Picker(5, 2, 42, (3,)))
    again = await _rebuilt(RegionSelect, sent.item)
    assert again.picker == Picker(5, 2, 42)  # the choice travels in the buttons, not here


@pytest.mark.parametrize(
    ("page", "pages", "disabled"),
    [(1, 1, (True, True)), (1, 3, (True, False)), (2, 3, (False, False)), (3, 3, (False, True))],
)
def test_previous_and_next_are_disabled_at_the_ends(
    page: int, pages: int, disabled: tuple[bool, bool]
) -> None:
    previous, following = previous_next(WordPageButton, Page, page, pages)
    assert (previous.item.label, following.item.label) == ("Previous", "Next")
    assert (previous.value, following.value) == (Page(page - 1), Page(page + 1))
    assert (previous.item.disabled, following.item.disabled) == disabled

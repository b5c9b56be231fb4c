"""Persistent buttons whose whole state is the value their custom id carries (one of
``custom_ids``' formats): discord.py rebuilds them from the id when pressed, after a
restart too, with the label and style the pressed button had."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, Self, TypeVar

import discord

from bot.discord_app.custom_ids import Format
from bot.discord_app.errors import GuardedButton

V = TypeVar("V")


class IdButton(GuardedButton, Generic[V], template=r"(?!)"):
    """A button carrying ``value`` in its custom id; a subclass names its format
    (``class JobButton(IdButton[Press], custom_id=JOB_BUTTON)``) and says what it does
    (``run``)."""

    id_format: ClassVar[Format[Any]]

    def __init_subclass__(cls, *, custom_id: Format[Any]) -> None:
        cls.id_format = custom_id
        super().__init_subclass__(template=custom_id.template)

    def __init__(
        self,
        value: V,
        *,
        label: str | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        row: int | None = None,
        disabled: bool = False,
    ) -> None:
        button = discord.ui.Button(
            label=label,
            style=style,
            custom_id=self.id_format.build(value),
            row=row,
            disabled=disabled,
        )
        super().__init__(button)
        self.value = value

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> Self:
        """Rebuild the button from its custom id (after a restart too)."""
        button = item if isinstance(item, discord.ui.Button) else None
        return cls(
            cls.id_format.read(match),
            label=button.label if button else None,
            style=button.style if button else discord.ButtonStyle.secondary,
        )


def previous_next(
    button: Callable[..., IdButton[V]], value: Callable[[int], V], page: int, pages: int
) -> tuple[IdButton[V], IdButton[V]]:
    """``Previous`` and ``Next`` for page ``page`` of ``pages``, disabled at the ends;
    ``value(n)`` is what the button to page ``n`` carries."""
    return (
        button(value(page - 1), label="Previous", disabled=page <= 1),
        button(value(page + 1), label="Next", disabled=page >= pages),
    )

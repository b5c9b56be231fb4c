"""``imaginebot zoom | pan | vary-region``: cells read as the region picker numbers them,
each pan direction presses its button, and the commands' arguments."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.canvas_cli import PAN_ACTIONS, add_commands, cells_of, run
from bot.settings import Settings
from core.model import Action


@pytest.mark.parametrize(
    ("text", "cells"),
    [("1,5,9", (1, 5, 9)), ("159", (1, 5, 9)), (" 9 1 ", (1, 9)), ("5,5", (5,)), ("7", (7,))],
)
def test_cells_are_numbers_1_to_9_sorted_once_each(text: str, cells: tuple[int, ...]) -> None:
    assert cells_of(text) == cells


@pytest.mark.parametrize("text", ["", "0", "10", "1,a", "1-3", "19,2,", ","])
def test_anything_else_is_refused_with_the_rule(text: str) -> None:
    with pytest.raises(ValueError, match="cells are numbers 1 to 9"):
        cells_of(text)


def test_each_direction_presses_its_pan_button() -> None:
    assert PAN_ACTIONS == {
        "left": Action.PAN_LEFT,
        "right": Action.PAN_RIGHT,
        "up": Action.PAN_UP,
        "down": Action.PAN_DOWN,
    }


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imaginebot")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def test_the_commands_and_their_arguments() -> None:
    zoom = parser().parse_args(["zoom", "12:3", "--factor", "1.5"])
    assert (zoom.source, zoom.factor, zoom.output, zoom.prompt) == (
        "12:3",
        "1.5",
        Path("grid.png"),
        None,
    )
    pan = parser().parse_args(["pan", "img.png", "up", "--prompt", "a fox", "-o", "p.png"])
    assert (pan.direction, pan.prompt, pan.output) == ("up", "a fox", Path("p.png"))
    assert parser().parse_args(["vary-region", "4", "1,5"]).cells == "1,5"
    with pytest.raises(SystemExit):
        parser().parse_args(["pan", "4", "sideways"])


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["vary-region", "4", "0"], "cells are numbers 1 to 9"),
        (["zoom", "not-a-job"], "is neither an image file nor JOB[:INDEX]"),
        (["zoom", "12:5"], "is neither an image file nor JOB[:INDEX]"),  # a grid has 4
        (["pan", "{file}", "up"], "--prompt is needed for an image file"),
    ],
)
def test_bad_sources_are_refused_before_anything_opens(tmp_path, capsys, argv, says) -> None:
    image = tmp_path / "i.png"
    image.write_bytes(b"")
    args = parser().parse_args([part.format(file=image) for part in argv])
    # A DATA_DIR that does not exist: nothing may be opened for a refusal.
    settings = Settings(_env_file=None, data_dir=tmp_path / "never")  # type: ignore[call-arg]
    assert run(settings, args) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "never").exists()

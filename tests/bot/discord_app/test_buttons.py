"""The buttons under a job's message: which rows, labels and custom ids each view has;
every action has a button somewhere, and every id reads back as what it carries."""

from __future__ import annotations

import discord

from bot.discord_app import custom_ids as ids
from bot.discord_app.buttons import JobButton, cancel_view, clip_view, grid_view, upscale_view
from bot.discord_app.custom_ids import Press
from core.model import Action

JOB = 1234


def layout(view: discord.ui.View) -> list[tuple[int | None, str | None, str]]:
    """(row, label, custom id) of each button, in order."""
    return [(item.row, item.item.label, item.custom_id) for item in view.children]  # type: ignore[attr-defined]


def test_a_grid_has_the_upscales_and_reroll_then_the_variations() -> None:
    assert layout(grid_view(JOB)) == [
        (0, "U1", f"u:{JOB}:1"),
        (0, "U2", f"u:{JOB}:2"),
        (0, "U3", f"u:{JOB}:3"),
        (0, "U4", f"u:{JOB}:4"),
        (0, "🔄", f"r:{JOB}:0"),
        (1, "V1", f"v:{JOB}:1"),
        (1, "V2", f"v:{JOB}:2"),
        (1, "V3", f"v:{JOB}:3"),
        (1, "V4", f"v:{JOB}:4"),
    ]


def test_an_upscaled_image_has_vary_then_zoom_then_pan_rows_on_its_one_image() -> None:
    assert layout(upscale_view(JOB)) == [
        (0, "Vary (Strong)", f"v:{JOB}:1"),
        (0, "Vary (Subtle)", f"s:{JOB}:1"),
        (0, "Vary (Region)", f"g:{JOB}:1"),
        (1, "Upscale (Creative)", f"c:{JOB}:1"),
        (1, "Zoom Out 2x", f"z:{JOB}:1"),
        (1, "Zoom Out 1.5x", f"y:{JOB}:1"),
        (1, "Custom Zoom", f"m:{JOB}:1"),
        (2, "⬅️", f"a:{JOB}:1"),
        (2, "➡️", f"l:{JOB}:1"),
        (2, "⬆️", f"k:{JOB}:1"),
        (2, "⬇️", f"j:{JOB}:1"),
    ]


def test_with_a_video_model_an_upscaled_image_has_animate_and_a_clip_extend() -> None:
    assert layout(upscale_view(JOB, animate=True))[-2:] == [
        (3, "Animate (Low motion)", f"i:{JOB}:1"),
        (3, "Animate (High motion)", f"o:{JOB}:1"),
    ]
    assert layout(clip_view(JOB)) == [
        (0, "Extend (Low motion)", f"e:{JOB}:1"),
        (0, "Extend (High motion)", f"t:{JOB}:1"),
        (0, "🔄", f"r:{JOB}:1"),
    ]


def test_a_waiting_job_has_one_red_cancel_button() -> None:
    (cancel,) = cancel_view(JOB).children
    assert isinstance(cancel, JobButton)
    assert (cancel.item.label, cancel.custom_id) == ("Cancel", f"x:{JOB}:0")
    assert cancel.item.style is discord.ButtonStyle.danger


def test_every_action_has_a_button_and_every_button_reads_back() -> None:
    views = [
        grid_view(JOB),
        grid_view(JOB, draft=True),  # E1-E4
        upscale_view(JOB, animate=True),
        cancel_view(JOB),
        clip_view(JOB),
    ]
    pressed = set()
    for view in views:
        assert view.timeout is None  # persistent: they work after a restart
        for button in view.children:
            assert isinstance(button, JobButton)
            assert ids.JOB_BUTTON.parse(button.custom_id) == button.value
            pressed.add(button.value.action)
    assert pressed == set(Action)
    assert JobButton(Press(Action.PAN_UP, 5, 2), label="⬆️").custom_id == "k:5:2"

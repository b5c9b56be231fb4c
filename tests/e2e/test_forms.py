"""The forms end to end: Vary (Region), Custom Zoom and remix, through the real bot.

The fake Discord answers modals (type 9) and sends their submits (type 5) and select
picks (type 3 with values) as Discord does; see ``fake_discord/forms.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.expect import (
    GRID_ROWS,
    assert_grid,
    assert_single,
    job_id,
    new_message,
    press,
    wait_result,
)
from tests.e2e.fake_discord import FakeDiscord, FakeMember, Interaction, StoredMessage
from tests.e2e.fake_discord.validation import modal_inputs

PROMPT = "a lighthouse at dusk --ar 3:2 --steps 4 --seed 5"
_MADE: dict[str, Any] = {}


@pytest.fixture
def upscaled(fake_discord: FakeDiscord, bot_process) -> tuple[StoredMessage, StoredMessage]:
    """alice's grid and its U1, made once for this module."""
    if "upscaled" not in _MADE:
        alice = fake_discord.member("alice")
        grid = wait_result(fake_discord.invoke("imagine", alice, prompt=PROMPT))
        _MADE["upscaled"] = (grid, wait_result(fake_discord.press(grid, "U1", alice)))
    return _MADE["upscaled"]


def fields(modal: dict[str, Any]) -> dict[str, str]:
    """A modal's text inputs: custom id -> prefilled value."""
    return {
        item["custom_id"]: item.get("value", "") for item, _ in modal_inputs(modal["components"])
    }


def refusal(handle: Interaction) -> str:
    """The ephemeral answer of a refused interaction (no job was started)."""
    ack = handle.wait_ack()
    assert ack.type == 4 and ack.ephemeral, f"expected a private refusal, got {ack}"
    return handle.wait_original().content


def jobs_count(bot_process) -> int:
    return bot_process.query("SELECT count(*) FROM jobs")[0][0]


def open_picker(fake: FakeDiscord, upscaled: StoredMessage, member: FakeMember) -> StoredMessage:
    handle = fake.press(upscaled, "Vary (Region)", member)
    ack = handle.wait_ack()
    assert ack.type == 4 and ack.ephemeral, "the picker is the presser's own"
    return handle.wait_original()


def test_vary_region_redraws_the_chosen_cells(
    fake_discord: FakeDiscord, bot_process, upscaled
) -> None:
    grid, single = upscaled
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")
    cell = assert_grid(grid)
    assert_single(single)

    picker = open_picker(fake_discord, single, alice)
    [picture] = picker.attachments
    assert picture.filename == "regions.png" and picture.content_type == "image/png"
    width, height = picker.image().size  # the image, at most 384 px a side
    assert max(width, height) <= 384 and width * 2 == height * 3
    [select] = [i for row in picker.components for i in row["components"] if i["type"] == 3]
    assert [o["value"] for o in select["options"]] == [str(n) for n in range(1, 10)]
    assert select["options"][0]["label"] == "1 · top left"
    assert (select["min_values"], select["max_values"]) == (1, 9)
    assert picker.rows[1:] == [["Prompt…", "Submit"]]
    assert all(button.get("disabled") for button in picker.buttons), "nothing chosen yet"

    # Choosing updates the picker in place (type 7): the choice is shown and carried.
    chose = fake_discord.choose(picker, ["5", "1"], alice)
    assert chose.wait_ack().type == 7
    picker = fake_discord.message(picker.id)
    assert "1 (top left), 5 (middle)" in picker.content
    assert len(picker.attachments) == 1, "the picture stays"
    assert not any(button.get("disabled") for button in picker.buttons)
    submit_id = picker.button("Submit")["custom_id"]

    # Only the member who opened it may use it (a forged press on a message bob sees).
    before = jobs_count(bot_process)
    forged = fake_discord.press_custom_id(submit_id, bob, message=single)
    assert "Only the member who opened this picker" in refusal(forged)
    assert jobs_count(bot_process) == before

    handle = fake_discord.press(picker, "Submit", alice)
    region = wait_result(handle)
    assert_grid(region, cell)
    assert "varied in parts 1, 5" in region.content
    [(kind, recipe, prompt)] = bot_process.query(
        "SELECT kind, recipe, prompt FROM jobs WHERE id = ?", job_id(region)
    )
    assert kind == "region" and '"cells": [1, 5]' in recipe and prompt == "a lighthouse at dusk"

    # Prompt…: a form prefilled with the prompt; what is sent is drawn in those cells.
    opened = fake_discord.press(picker, "Prompt…", alice)
    modal = fake_discord.modal_of(opened)
    assert modal["title"] == "Vary (Region)"
    assert fields(modal)["prompt"].startswith("a lighthouse at dusk --ar 3:2 --steps 4")
    bad = fake_discord.submit_modal(opened, {"prompt": "a boat --seed banana"})
    assert "--seed" in refusal(bad)
    opened = fake_discord.press(picker, "Prompt…", alice)
    sent = fake_discord.submit_modal(opened, {"prompt": "a red boat --ar 3:2 --steps 4"})
    boat = wait_result(sent)
    assert_grid(boat, cell)
    assert "a red boat" in boat.content and "varied in parts 1, 5" in boat.content
    assert boat.rows == GRID_ROWS


def test_custom_zoom_takes_a_factor_and_a_new_aspect(
    fake_discord: FakeDiscord, bot_process, upscaled
) -> None:
    grid, single = upscaled
    bob = fake_discord.member("bob")
    cell = assert_grid(grid)

    opened = fake_discord.press(single, "Custom Zoom", bob)
    assert opened.wait_ack().type == 9
    modal = fake_discord.modal_of(opened)
    assert modal["title"] == "Custom Zoom" and len(modal["custom_id"]) <= 100
    values = fields(modal)
    assert values["factor"] == "2"
    assert values["prompt"].startswith("a lighthouse at dusk --ar 3:2")

    before = jobs_count(bot_process)
    for factor, words in (("2.5", "from 1 to 2"), ("wide", "not a number")):
        handle = fake_discord.submit_modal(opened, {"factor": factor})
        assert words in refusal(handle)
        opened = fake_discord.press(single, "Custom Zoom", bob)
    same = fake_discord.submit_modal(opened, {"factor": "1"})
    assert "would change nothing" in refusal(same)
    assert jobs_count(bot_process) == before

    opened = fake_discord.press(single, "Custom Zoom", bob)
    zoomed = wait_result(fake_discord.submit_modal(opened, {"factor": "1.5"}))
    assert_grid(zoomed, cell)
    assert "zoomed out 1.5x" in zoomed.content
    # --ar in the edited prompt: a square canvas, the image fitted in its middle.
    opened = fake_discord.press(single, "Custom Zoom", bob)
    text = "a lighthouse on a cliff --ar 1:1 --steps 4"
    square = wait_result(fake_discord.submit_modal(opened, {"prompt": text, "factor": "1.2"}))
    width, height = assert_grid(square)
    assert width == height
    assert "a lighthouse on a cliff" in square.content


def test_remix_opens_a_form_before_the_buttons_act(
    fake_discord: FakeDiscord, bot_process, upscaled
) -> None:
    grid, single = upscaled
    bob = fake_discord.member("bob")  # remix is bob's setting, not alice's
    alice = fake_discord.member("alice")
    cell = assert_grid(grid)
    on = fake_discord.invoke("settings", bob, remix=True)
    assert "remix: on" in on.wait_reply().content
    try:
        # V1: a form prefilled with the prompt; bad parameters are refused privately.
        opened = fake_discord.press(grid, "V1", bob)
        modal = fake_discord.modal_of(opened)
        assert modal["title"] == "Remix: Vary (Strong)"
        assert fields(modal)["prompt"].startswith("a lighthouse at dusk --ar 3:2 --steps 4")
        before = jobs_count(bot_process)
        bad = fake_discord.submit_modal(opened, {"prompt": "a castle --steps 9999"})
        assert "--steps" in refusal(bad)
        assert jobs_count(bot_process) == before

        opened = fake_discord.press(grid, "V1", bob)
        varied = wait_result(fake_discord.submit_modal(opened, {"prompt": "a castle --steps 4"}))
        assert_grid(varied, cell)
        assert "a castle" in varied.content
        assert "Variations (strong) of image #1" in varied.content
        # 🔄 may change the shape; the pans and zooms open the form too.
        opened = fake_discord.press(grid, "🔄", bob)
        square = wait_result(
            fake_discord.submit_modal(opened, {"prompt": "a castle --ar 1:1 --steps 4"})
        )
        width, height = assert_grid(square)
        assert width == height
        for label in ("Zoom Out 2x", "⬅️", "Vary (Subtle)"):
            assert fake_discord.press(single, label, bob).wait_ack().type == 9
        opened = fake_discord.press(single, "➡️", bob)
        panned = wait_result(fake_discord.submit_modal(opened, {"prompt": "a castle --steps 4"}))
        assert_grid(panned, (cell[0] * 3 // 2, cell[1]))
        assert "a castle" in panned.content
        # Upscales keep the image: no form. Someone without remix: no form either.
        assert press(fake_discord, grid, "U2", bob).wait_ack().type == 4
        assert press(fake_discord, grid, "V2", alice).wait_ack().type == 4
    finally:
        off = fake_discord.invoke("settings", bob, remix=False)
        assert "remix: off" in off.wait_reply().content
    direct = press(fake_discord, grid, "V3", bob)
    assert_grid(new_message(fake_discord, direct, grid), cell)


def test_a_remix_form_shows_only_what_the_job_carried(
    fake_discord: FakeDiscord, bot_process
) -> None:
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")
    saved = fake_discord.invoke("settings", alice, negative="grainy fog")
    assert "grainy fog" in saved.wait_reply().content
    try:  # alice's saved negative is hers: her jobs are made with it
        quiet = wait_result(fake_discord.invoke("imagine", alice, prompt="a harbour --steps 2"))
        typed = wait_result(
            fake_discord.invoke("imagine", alice, prompt="a harbour --steps 2 --no rain")
        )
    finally:
        fake_discord.invoke("settings", alice, reset=True).wait_reply()
    negative = "SELECT negative FROM jobs WHERE id = ?"
    assert bot_process.query(negative, job_id(quiet)) == [("grainy fog",)]
    on = fake_discord.invoke("settings", bob, remix=True)
    assert "remix: on" in on.wait_reply().content
    try:
        # ...but never shown to bob in a form: the job's prompt and parameters only.
        for label in ("V1", "🔄"):
            form = fields(fake_discord.modal_of(fake_discord.press(quiet, label, bob)))
            assert form["prompt"].startswith("a harbour --ar 1:1 --steps 2"), form
            assert "grainy" not in form["prompt"] and "--no" not in form["prompt"], form
        # The --no typed in the prompt is part of the job: shown.
        form = fields(fake_discord.modal_of(fake_discord.press(typed, "V1", bob)))
        assert form["prompt"].endswith("--no rain"), form
    finally:
        off = fake_discord.invoke("settings", bob, remix=False)
        assert "remix: off" in off.wait_reply().content


def test_forms_and_the_picker_work_after_a_restart(
    fake_discord: FakeDiscord, bot_process, upscaled
) -> None:
    grid, single = upscaled
    alice = fake_discord.member("alice")
    cell = assert_grid(grid)
    zoom_form = fake_discord.press(single, "Custom Zoom", alice)
    fake_discord.modal_of(zoom_form)
    picker = open_picker(fake_discord, single, alice)

    assert bot_process.stop() == 0
    bot_process.start()

    zoomed = wait_result(fake_discord.submit_modal(zoom_form, {"factor": "1.25"}))
    assert_grid(zoomed, cell)
    chose = fake_discord.choose(picker, ["9"], alice)
    assert chose.wait_ack().type == 7
    region = wait_result(fake_discord.press(fake_discord.message(picker.id), "Submit", alice))
    assert "varied in parts 9" in region.content
    # A form this version does not know (an older layout): said plainly.
    stale = fake_discord.submit_modal(zoom_form, custom_id="fz:old-layout")
    assert "expired" in refusal(stale)

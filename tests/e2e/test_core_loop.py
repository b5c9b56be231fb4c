"""The core loop end to end: /imagine, the grid, its buttons, a restart, two members at once.

Scenarios 2, 3, 4 and 6 of the e2e harness, against the real bot process.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.expect import (
    GRID_ROWS,
    assert_grid,
    assert_single,
    eventually,
    job_id,
    new_message,
    press,
    wait_result,
)
from tests.e2e.fake_discord import FakeDiscord, Interaction, StoredMessage

FOX_PROMPT = "a fox in snow --ar 3:2 --seed 7 --steps 6"
MAX_UPSCALE_SIDE = 512  # as the e2e bots are configured (conftest)
_SEED = re.compile(r"\bseed (\d+)\b")


_FOX: dict[str, Any] = {}


@pytest.fixture
def fox_grid(fake_discord: FakeDiscord, bot_process) -> tuple[Interaction, StoredMessage]:
    """Scenario 2's grid, made once for this module: ``/imagine a fox in snow --ar 3:2 ...``."""
    if "grid" not in _FOX:
        alice = fake_discord.member("alice")
        handle = fake_discord.invoke("imagine", alice, prompt=FOX_PROMPT)
        _FOX["grid"] = (handle, wait_result(handle))
    return _FOX["grid"]


def test_imagine_answers_with_a_grid(fake_discord: FakeDiscord, bot_process, fox_grid) -> None:
    handle, grid = fox_grid
    alice = fake_discord.member("alice")
    assert handle.ack is not None and handle.ack.type == 4 and handle.ack.latency < 3.0
    assert handle.ack.ephemeral is False
    assert grid.interaction_id == handle.id and grid.kind == "original"
    first = grid.edits[0]
    assert not first.flags & 128, "no 'thinking…': the first answer is the job's message"
    assert f"job {job_id(grid)}" in first.content and "a fox in snow" in first.content

    assert_grid(grid)
    width, height = grid.image().size
    assert width * 2 == height * 3, f"{width}x{height} is not 3:2"
    assert grid.attachments[0].filename.endswith(".png")
    assert f"<@{alice.id}>" in grid.content
    assert "a fox in snow" in grid.content
    assert "seed 7" in grid.content
    assert handle.followups() == []

    eventually(
        lambda: bot_process.query(
            "SELECT user_id, status, message_id, channel_id FROM jobs WHERE id = ?", job_id(grid)
        ),
        [(alice.id, "done", grid.id, grid.channel_id)],
    )
    # Everyone in the channel sees it.
    bob = fake_discord.member("bob")
    assert grid.id in [m.id for m in fake_discord.messages(grid.channel_id, visible_to=bob)]


def test_grid_buttons_make_new_messages(fake_discord: FakeDiscord, bot_process, fox_grid) -> None:
    _, grid = fox_grid
    bob = fake_discord.member("bob")
    cell = assert_grid(grid)
    grid_seed = int(_SEED.search(grid.content).group(1))  # type: ignore[union-attr]

    # Three presses at once: the jobs queue behind each other.
    u2 = press(fake_discord, grid, "U2", bob)
    v3 = press(fake_discord, grid, "V3", bob)
    reroll = press(fake_discord, grid, "🔄", bob)

    upscaled = new_message(fake_discord, u2, grid)
    assert assert_single(upscaled) == (cell[0] * 2, cell[1] * 2)
    assert "#2" in upscaled.content

    varied = new_message(fake_discord, v3, grid)
    assert_grid(varied, cell)
    assert "#3" in varied.content

    rerolled = new_message(fake_discord, reroll, grid)
    assert_grid(rerolled, cell)
    match = _SEED.search(rerolled.content)
    assert match, rerolled.content
    assert int(match.group(1)) != grid_seed

    numbers = {job_id(m) for m in (grid, upscaled, varied, rerolled)}
    assert len(numbers) == 4, "each button starts its own job"
    for number in numbers - {job_id(grid)}:
        [(user_id, parent_id)] = bot_process.query(
            "SELECT user_id, parent_id FROM jobs WHERE id = ?", number
        )
        assert (user_id, parent_id) == (bob.id, job_id(grid)), "the presser owns the child job"

    # Each button of the upscaled image works.
    strong = press(fake_discord, upscaled, "Vary (Strong)", bob)
    subtle = press(fake_discord, upscaled, "Vary (Subtle)", bob)
    creative = press(fake_discord, upscaled, "Upscale (Creative)", bob)
    assert_grid(new_message(fake_discord, strong, upscaled), cell)
    assert_grid(new_message(fake_discord, subtle, upscaled), cell)
    bigger = new_message(fake_discord, creative, upscaled)
    width, height = assert_single(bigger)
    up_width, up_height = upscaled.image().size
    assert width > up_width and height > up_height
    assert max(width, height) <= MAX_UPSCALE_SIDE
    assert width * up_height == height * up_width, "the creative upscale keeps the aspect"

    # Zoom out and pan: new grids, at the grid's size and half a side wider. Three at a
    # time: MAX_QUEUED_PER_USER holds for bob's presses too.
    expected = {
        "Zoom Out 2x": ("zoomed out 2x", cell),
        "Zoom Out 1.5x": ("zoomed out 1.5x", cell),
        "➡️": ("panned right", (cell[0] * 3 // 2, cell[1])),
        "⬅️": ("panned left", (cell[0] * 3 // 2, cell[1])),
        "⬆️": ("panned up", (cell[0], cell[1] * 3 // 2)),
        "⬇️": ("panned down", (cell[0], cell[1] * 3 // 2)),
    }
    labels = list(expected)
    for three in (labels[:3], labels[3:]):
        handles = {label: press(fake_discord, upscaled, label, bob) for label in three}
        for label, handle in handles.items():
            words, size = expected[label]
            result = new_message(fake_discord, handle, upscaled)
            assert_grid(result, size)
            assert words in result.content, label


def test_two_members_at_once(fake_discord: FakeDiscord, bot_process) -> None:
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")
    first = fake_discord.invoke("imagine", alice, prompt="a red robot --steps 4 --seed 11")
    second = fake_discord.invoke("imagine", bob, prompt="a blue dragon --steps 4 --seed 12")
    grid_a = wait_result(first)
    grid_b = wait_result(second)
    assert_grid(grid_a)
    assert_grid(grid_b)
    assert grid_a.id != grid_b.id
    assert "a red robot" in grid_a.content and f"<@{alice.id}>" in grid_a.content
    assert "a blue dragon" in grid_b.content and f"<@{bob.id}>" in grid_b.content
    jobs = dict(
        bot_process.query(
            "SELECT id, user_id FROM jobs WHERE id IN (?, ?)", job_id(grid_a), job_id(grid_b)
        )
    )
    assert jobs == {job_id(grid_a): alice.id, job_id(grid_b): bob.id}


def test_buttons_work_after_a_restart(fake_discord: FakeDiscord, bot_process) -> None:
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")
    handle = fake_discord.invoke("imagine", alice, prompt="a lighthouse --ar 2:3 --steps 4")
    grid = wait_result(handle)
    cell = assert_grid(grid)
    identified = fake_discord.identify_count

    exit_code = bot_process.stop()
    assert exit_code == 0, f"the bot did not stop cleanly on SIGTERM (exit code {exit_code})"
    bot_process.start()
    assert fake_discord.identify_count == identified + fake_discord.shard_count  # each shard

    upscaled = new_message(fake_discord, press(fake_discord, grid, "U1", bob), grid)
    assert assert_single(upscaled) == (cell[0] * 2, cell[1] * 2)


def test_a_grid_over_the_attachment_limit_is_scaled_down(
    fake_discord: FakeDiscord, bot_process
) -> None:
    """PRODUCT.md: the grid "may be scaled down to fit Discord's attachment limit"."""
    alice = fake_discord.member("alice")
    limit = 40_000  # a 3:2 grid of the tiny model is about 250 kB
    fake_discord.attachment_size_limit = limit
    try:
        handle = fake_discord.invoke("imagine", alice, prompt="a big fox --ar 3:2 --steps 4")
    finally:
        fake_discord.attachment_size_limit = fake_discord.default_attachment_size_limit
    grid = wait_result(handle)
    assert grid.rows == GRID_ROWS and len(grid.attachments) == 1
    assert grid.attachments[0].size <= limit
    assert grid.image().format == "PNG"
    width, height = grid.image().size
    assert abs(width / height - 1.5) < 0.05, f"{width}x{height} is not about 3:2"

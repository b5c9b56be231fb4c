"""Prompts that make several jobs (--repeat, {}) and seamless ones (--tile), end to end."""

from __future__ import annotations

from tests.e2e.expect import assert_grid, job_id, posted_result, wait_result
from tests.e2e.fake_discord import FakeDiscord


def test_repeats_and_permutations_each_get_a_message_and_a_grid(
    fake_discord: FakeDiscord, bot_process
) -> None:
    # The server's owner: no quota, and no jobs of other tests queued on the shared bot.
    owner = fake_discord.member("owner")
    handle = fake_discord.invoke(
        "imagine", owner, prompt="a {red, blue} kite over hills --repeat 2 --steps 2 --tile"
    )
    first = wait_result(handle)  # the answer is the first job's own message
    cell = assert_grid(first)
    assert "a red kite over hills" in first.content and "· tile" in first.content
    number = job_id(first)
    rows = bot_process.query(
        "SELECT id, prompt, user_id FROM jobs WHERE id BETWEEN ? AND ? ORDER BY id",
        number,
        number + 3,
    )
    assert [(prompt, user) for _, prompt, user in rows] == [
        ("a red kite over hills", owner.id),
        ("a red kite over hills", owner.id),
        ("a blue kite over hills", owner.id),
        ("a blue kite over hills", owner.id),
    ]
    # The others: a message each in the channel, edited into their own grid.
    for other, prompt, _ in rows[1:]:
        message = posted_result(fake_discord, other, prompt)
        assert_grid(message, cell)
        assert "· tile" in message.content and not message.ephemeral


def test_chaos_is_named_in_the_result_and_stored_with_the_job(
    fake_discord: FakeDiscord, bot_process
) -> None:
    owner = fake_discord.member("owner")
    grid = wait_result(
        fake_discord.invoke("imagine", owner, prompt="a harbour --chaos 60 --steps 2")
    )
    assert_grid(grid)
    assert "· chaos 60" in grid.content
    [(params,)] = bot_process.query("SELECT params FROM jobs WHERE id = ?", job_id(grid))
    assert '"chaos": 60' in params

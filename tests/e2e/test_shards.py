"""The bot runs the shards Discord recommends: two here (the session's fake), with server
A's events on shard 0 and server B's on shard 1; it answers commands in both."""

from __future__ import annotations

from tests.e2e.expect import assert_grid, job_id, wait_result
from tests.e2e.fake_discord import FakeDiscord


def test_two_shards_each_serve_their_own_server(fake_discord: FakeDiscord, bot_process) -> None:
    fake = fake_discord
    assert fake.shard_count == 2
    assert fake.shard_of(fake.guild_id) == 0 and fake.shard_of(fake.other_guild_id) == 1
    # The bot asked how many shards to run, then identified each of them.
    assert any(call.method == "GET" and call.path.endswith("/gateway/bot") for call in fake.calls)
    shards = [payload.get("shard") for payload in fake.identify_payloads[-2:]]
    assert sorted(shards) == [[0, 2], [1, 2]]
    assert fake.connected

    alice, carol = fake.member("alice", "a"), fake.member("carol", "b")
    grid_a = wait_result(fake.invoke("imagine", alice, prompt="a fox on shard zero --steps 2"))
    grid_b = wait_result(fake.invoke("imagine", carol, prompt="an owl on shard one --steps 2"))
    assert_grid(grid_a) and assert_grid(grid_b)
    rows = bot_process.query(
        "SELECT id, guild_id FROM jobs WHERE id IN (?, ?) ORDER BY id",
        job_id(grid_a),
        job_id(grid_b),
    )
    assert rows == [(job_id(grid_a), fake.guild_id), (job_id(grid_b), fake.other_guild_id)]
    # Each answer went to its own server's channel.
    assert grid_a.channel_id != grid_b.channel_id

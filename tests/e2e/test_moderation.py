"""Moderation end to end: who may use /admin, and what a ban does to commands and buttons."""

from __future__ import annotations

import re

from tests.e2e.expect import eventually, job_id, wait_result
from tests.e2e.fake_discord import FakeDiscord, Interaction, StoredMessage


def _reply(handle: Interaction) -> StoredMessage:
    message = handle.wait_reply(lambda m: not m.loading and bool(m.content), 20)
    assert message.ephemeral, "the answer is for the caller only"
    return message


def test_admins_ban_and_a_banned_member_is_refused_everywhere(
    fake_discord: FakeDiscord, bot_factory
) -> None:
    bot = bot_factory(ADMIN_ROLE_ID=fake_discord.curator_role_id)
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")
    mod, curator = fake_discord.member("mod"), fake_discord.member("curator")
    grid = wait_result(fake_discord.invoke("imagine", alice, prompt="before the ban --steps 4"))

    # A server that re-granted /admin to everyone: the bot still refuses a plain member.
    fake_discord.grant_command("admin")
    refused = _reply(fake_discord.invoke("admin ban", bob, user=alice, reason="nope"))
    assert "Only this server's admins" in refused.content
    assert bot.query("SELECT COUNT(*) FROM bans") == [(0,)]

    banned = _reply(fake_discord.invoke("admin ban", mod, user=alice, reason="spam"))
    assert "is banned" in banned.content
    jobs_before = bot.count_jobs()
    again = _reply(fake_discord.invoke("imagine", alice, prompt="after the ban --steps 4"))
    assert "banned" in again.content and "Reason: spam" in again.content
    press = fake_discord.press(grid, "U1", alice)
    press.wait_ack()
    pressed = press.wait_reply(lambda m: not m.loading and bool(m.content), 20)
    assert pressed.ephemeral and "banned" in pressed.content
    assert not [m for m in press.messages() if not m.ephemeral], "nothing public is left"
    assert bot.count_jobs() == jobs_before, "no job for a banned member"

    # A member of the ADMIN_ROLE_ID role is an admin too.
    lifted = _reply(fake_discord.invoke("admin unban", curator, user=alice))
    assert "no longer banned" in lifted.content
    after = wait_result(fake_discord.invoke("imagine", alice, prompt="after the unban --steps 4"))
    eventually(
        lambda: bot.query("SELECT user_id, status FROM jobs WHERE id = ?", job_id(after)),
        [(alice.id, "done")],
    )
    actions = [row[0] for row in bot.query("SELECT action FROM audit ORDER BY id")]
    assert actions == ["ban", "unban"]
    log = _reply(fake_discord.invoke("admin audit", mod))
    lines = log.content.splitlines()[1:]  # newest first
    assert len(lines) == 2 and re.search(r"\bunban\b", lines[0]) and re.search(r"\bban\b", lines[1])


def test_purge_deletes_the_images_and_the_message(fake_discord: FakeDiscord, bot_factory) -> None:
    bot = bot_factory()
    alice, mod = fake_discord.member("alice"), fake_discord.member("mod")
    grid = wait_result(fake_discord.invoke("imagine", alice, prompt="purge this fox --steps 4"))
    number = job_id(grid)
    assert (bot.data_dir / "images" / str(number)).is_dir()
    done = _reply(fake_discord.invoke("admin purge", mod, job=str(number)))
    assert f"Job {number}: images and its message removed" in done.content
    assert fake_discord.message(grid.id).deleted
    assert not (bot.data_dir / "images" / str(number)).exists()
    assert bot.query("SELECT COUNT(*) FROM images WHERE job_id = ?", number) == [(0,)]
    [(purged,)] = bot.query("SELECT purged_at IS NOT NULL FROM jobs WHERE id = ?", number)
    assert purged == 1
    bad = _reply(fake_discord.invoke("admin purge", mod, job="twelve"))
    assert "not a job id" in bad.content

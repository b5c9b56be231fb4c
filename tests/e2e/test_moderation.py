"""Moderation end to end: who may use /admin, and what a ban does to commands and buttons."""

from __future__ import annotations

import re

from tests.discord_markdown import render
from tests.e2e.expect import eventually, job_id, private_reply, wait_result
from tests.e2e.fake_discord import FakeDiscord


def test_admins_ban_and_a_banned_member_is_refused_everywhere(
    fake_discord: FakeDiscord, bot_factory
) -> None:
    bot = bot_factory(ADMIN_ROLE_ID=fake_discord.curator_role_id)
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")
    mod, curator = fake_discord.member("mod"), fake_discord.member("curator")
    grid = wait_result(fake_discord.invoke("imagine", alice, prompt="before the ban --steps 4"))

    # A server that re-granted /admin to everyone: the bot still refuses a plain member.
    fake_discord.grant_command("admin")
    refused = private_reply(fake_discord.invoke("admin ban", bob, user=alice, reason="nope"))
    assert "Only this server's admins" in refused.content
    assert bot.query("SELECT COUNT(*) FROM bans") == [(0,)]

    banned = private_reply(fake_discord.invoke("admin ban", mod, user=alice, reason="spam"))
    assert "is banned" in banned.content
    jobs_before = bot.count_jobs()
    again = private_reply(fake_discord.invoke("imagine", alice, prompt="after the ban --steps 4"))
    assert "banned" in again.content and "Reason: spam" in again.content
    press = fake_discord.press(grid, "U1", alice)
    press.wait_ack()
    pressed = press.wait_reply(lambda m: not m.loading and bool(m.content), 20)
    assert pressed.ephemeral and "banned" in pressed.content
    assert not [m for m in press.messages() if not m.ephemeral], "nothing public is left"
    assert bot.count_jobs() == jobs_before, "no job for a banned member"

    # A member of the ADMIN_ROLE_ID role is an admin too.
    lifted = private_reply(fake_discord.invoke("admin unban", curator, user=alice))
    assert "no longer banned" in lifted.content
    after = wait_result(fake_discord.invoke("imagine", alice, prompt="after the unban --steps 4"))
    eventually(
        lambda: bot.query("SELECT user_id, status FROM jobs WHERE id = ?", job_id(after)),
        [(alice.id, "done")],
    )
    actions = [row[0] for row in bot.query("SELECT action FROM audit ORDER BY id")]
    assert actions == ["ban", "unban"]
    log = private_reply(fake_discord.invoke("admin audit", mod))
    lines = log.content.splitlines()[1:]  # newest first
    assert len(lines) == 2 and re.search(r"\bunban\b", lines[0]) and re.search(r"\bban\b", lines[1])


def test_purge_deletes_the_images_and_the_message(fake_discord: FakeDiscord, bot_factory) -> None:
    bot = bot_factory()
    alice, mod = fake_discord.member("alice"), fake_discord.member("mod")
    grid = wait_result(fake_discord.invoke("imagine", alice, prompt="purge this fox --steps 4"))
    number = job_id(grid)
    assert (bot.data_dir / "images" / str(number)).is_dir()
    done = private_reply(fake_discord.invoke("admin purge", mod, job=str(number)))
    assert f"Job {number}: images and its message removed" in done.content
    assert fake_discord.message(grid.id).deleted
    assert not (bot.data_dir / "images" / str(number)).exists()
    assert bot.query("SELECT COUNT(*) FROM images WHERE job_id = ?", number) == [(0,)]
    [(purged,)] = bot.query("SELECT purged_at IS NOT NULL FROM jobs WHERE id = ?", number)
    assert purged == 1
    bad = private_reply(fake_discord.invoke("admin purge", mod, job="twelve"))
    assert "not a job id" in bad.content


def _hostile_entry(number: int) -> str:
    """A 100-character entry, nearly all of it markdown, mentions and links: escaped,
    each of its characters takes two (``@everyone`` three)."""
    head = f"w{number:03d} @everyone <@{number}> [x](https://e.example) ||s|| `c` #h ~~"
    return (head + "_" * 100)[:100]


def test_the_word_list_pages_whole_escaped_entries(fake_discord: FakeDiscord, bot_factory) -> None:
    bot = bot_factory()
    mod = fake_discord.member("mod")
    entries = [_hostile_entry(n) for n in range(500)]
    for start in range(0, len(entries), 20):  # a few at a time: each is acknowledged in 3 s
        handles = [
            fake_discord.invoke("admin banword", mod, action="add", word=entry)
            for entry in entries[start : start + 20]
        ]
        for handle in handles:
            assert "blocked" in private_reply(handle).content
    [(count,)] = bot.query("SELECT COUNT(*) FROM blocked_words")
    stored = [row[0] for row in bot.query("SELECT phrase FROM blocked_words ORDER BY rowid")]
    assert count == 500 and len(set(stored)) == 500

    page = private_reply(fake_discord.invoke("admin banword", mod, action="list"))
    seen: list[str] = []
    number = 1
    while True:
        assert len(page.content.encode("utf-16-le")) // 2 <= 2000
        shown = render(page.content)
        assert not shown.elements, "nothing in an entry is live: no link, mention, format"
        heading, body = shown.text.split("\n")
        pages = int(re.fullmatch(r"Blocked here \(500, page (\d+) of (\d+)\):", heading)[2])
        assert f"page {number} of {pages}" in heading
        seen += body.split(" · ")
        if number == pages:
            assert page.button("Next").get("disabled")
            break
        assert fake_discord.press(page, "Next", mod).wait_ack().type == 7
        page = fake_discord.message(page.id)
        number += 1
    # Every entry, whole and in order (a zero-width space after @ keeps @everyone quiet).
    assert [entry.replace("\u200b", "") for entry in seen] == stored
    assert pages > 1
    back = fake_discord.press(page, "Previous", mod)
    assert back.wait_ack().type == 7
    assert f"page {pages - 1} of {pages}" in fake_discord.message(page.id).content
    # A page button sent by a member who is not an admin (a forged client) is refused.
    bob = fake_discord.member("bob")
    grid = wait_result(fake_discord.invoke("imagine", bob, prompt="a fox --steps 1"))
    refused = private_reply(fake_discord.press_custom_id("bw:2", bob, message=grid))
    assert "Only this server's admins" in refused.content


def test_a_blocked_prompt_flood_is_one_audit_row(fake_discord: FakeDiscord, bot_factory) -> None:
    bot = bot_factory()
    alice, bob, mod = (fake_discord.member(name) for name in ("alice", "bob", "mod"))
    private_reply(fake_discord.invoke("admin ban", mod, user=bob, reason="spam"))
    private_reply(fake_discord.invoke("admin banword", mod, action="add", word="nud*"))
    for n in range(12):  # more than a page of the log, had each refusal its own row
        refused = private_reply(fake_discord.invoke("imagine", alice, prompt=f"a nude fox {n}"))
        assert "blocked in this server" in refused.content
    private_reply(fake_discord.invoke("admin unban", mod, user=bob))

    folded = bot.query(
        "SELECT hits, hour, details FROM audit WHERE action = 'blocked_prompt' AND target = ?",
        str(alice.id),
    )
    # One row a UTC hour: two only if the hour turned during the flood.
    assert sum(hits for hits, _, _ in folded) == 12
    assert len(folded) == len({hour for _, hour, _ in folded}) <= 2, folded
    log = private_reply(fake_discord.invoke("admin audit", mod))
    lines = log.content.splitlines()
    assert "page 1 of 1" in lines[0]
    actions = [
        re.search(r"\b(unban|ban|banword_add|blocked_prompt)\b", line)[1] for line in lines[1:]
    ]
    assert actions[0] == "unban" and actions[-2:] == ["banword_add", "ban"], actions
    assert actions.count("blocked_prompt") == len(folded)
    blocked = [render(line).text for line in lines if "blocked_prompt" in line]
    assert any("blocked prompts this hour; last: 'nud*' in prompt" in line for line in blocked)

"""Users end to end: a daily quota, /history, /settings and /info through the fake Discord."""

from __future__ import annotations

from tests.e2e.expect import assert_grid, eventually, job_id, wait_result
from tests.e2e.fake_discord import IS_COMPONENTS_V2, FakeDiscord, Interaction, StoredMessage


def _reply(handle: Interaction) -> StoredMessage:
    """The command's private answer."""
    message = handle.wait_reply(lambda m: not m.loading and bool(m.text), 20)
    assert message.ephemeral, "the answer is for the caller only"
    return message


def test_quota_history_settings_and_info(fake_discord: FakeDiscord, bot_factory) -> None:
    bot = bot_factory(DAILY_QUOTA=2)
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")

    grids = [
        wait_result(fake_discord.invoke("imagine", alice, prompt=f"quota fox {i} --steps 4"))
        for i in (1, 2)
    ]
    numbers = [job_id(grid) for grid in grids]
    jobs_before = bot.count_jobs()
    refused = _reply(fake_discord.invoke("imagine", alice, prompt="one fox too many --steps 4"))
    assert "used your 2 jobs for today (2 used)" in refused.content
    assert "<t:" in refused.content, "the reset time is a Discord timestamp"
    assert bot.count_jobs() == jobs_before, "a refused job leaves no row"

    history = _reply(fake_discord.invoke("history", alice))
    assert history.flags & IS_COMPONENTS_V2 and history.content == ""
    for number in numbers:
        assert f"job {number}" in history.text
    assert history.text.index(f"job {numbers[1]}") < history.text.index(f"job {numbers[0]}")
    assert "https://discord.com/channels/" in history.text, "jump links"
    assert [label for row in history.rows for label in row] == ["Previous", "Next"]
    # Each job's grid as a thumbnail beside its line: small WebP files, one per job.
    assert history.media == [f"attachment://job-{n}.webp" for n in reversed(numbers)]
    assert [a.filename for a in history.attachments] == [f"job-{n}.webp" for n in reversed(numbers)]
    for index, attachment in enumerate(history.attachments):
        thumbnail = history.image(index)
        assert thumbnail.format == "WEBP" and max(thumbnail.size) <= 256
        assert attachment.size < 64 * 1024
    # Made once per job: a second view sends the same files, made when the job ended.
    thumb = bot.data_dir / "images" / str(numbers[0]) / "thumb.webp"
    made = thumb.stat().st_mtime_ns
    again = _reply(fake_discord.invoke("history", alice))
    assert again.media == history.media and thumb.stat().st_mtime_ns == made
    # Ten a page; paging edits the page in place (type 7), still V2, with that page's
    # thumbnails. The moderator (no quota here) makes 12 jobs, four at a time, a channel
    # each time (each job's message and result is a post there: 5 per 5 s per channel).
    mod = fake_discord.member("mod")
    for batch, channel in enumerate(("general", "art", "nsfw")):
        handle = fake_discord.invoke(
            "imagine", mod, channel=channel, prompt=f"tile {batch} {{a,b,c,d}} --steps 1"
        )
        wait_result(handle)
        eventually(
            lambda: bot.query(
                "SELECT count(*) FROM jobs WHERE user_id = ? AND status = 'done'", mod.id
            ),
            [(4 * (batch + 1),)],
            timeout=60,
        )
    first = _reply(fake_discord.invoke("history", mod))
    assert "page 1 of 2" in first.text and len(first.media) == len(first.attachments) == 10
    following = fake_discord.press(first, "Next", mod)
    assert following.wait_ack().type == 7
    second = fake_discord.message(first.id)
    assert "page 2 of 2" in second.text and second.flags & IS_COMPONENTS_V2
    assert len(second.media) == 2 and [a.filename for a in second.attachments] == [
        url.removeprefix("attachment://") for url in second.media
    ]
    assert second.button("Next").get("disabled") and not second.button("Previous").get("disabled")
    others = _reply(fake_discord.invoke("history", bob, user=alice))
    assert "Only admins" in others.content
    moderated = _reply(fake_discord.invoke("history", fake_discord.member("mod"), user=alice))
    assert f"job {numbers[0]}" in moderated.text

    info = _reply(fake_discord.invoke("info", alice))
    assert "2 of 2 used today, 0 left" in info.content and "tiny-sd" in info.content
    assert "Workers" not in info.content, "the workers are for admins"
    admin_info = _reply(fake_discord.invoke("info", fake_discord.member("mod")))
    assert "Workers: 1 of 1 up (cpu)." in admin_info.content

    bad = _reply(fake_discord.invoke("settings", bob, aspect="9:1"))
    assert "`aspect 9:1`" in bad.content and "1:4 and 4:1" in bad.content
    saved = _reply(fake_discord.invoke("settings", bob, aspect="16:9"))
    assert "16:9" in saved.content
    shown = _reply(fake_discord.invoke("settings", bob))
    assert "aspect: `16:9`" in shown.content
    wide = wait_result(fake_discord.invoke("imagine", bob, prompt="a wide fox --steps 4"))
    explicit = wait_result(
        fake_discord.invoke("imagine", bob, prompt="a wide fox --steps 4 --ar 16:9")
    )
    cell = assert_grid(wide)
    assert cell == assert_grid(explicit), "the default makes the same size as --ar 16:9"
    assert cell[0] > cell[1]
    assert bot.query(
        "SELECT json_extract(params, '$.aspect') FROM jobs WHERE id = ?", job_id(wide)
    ) == [("16:9",)]

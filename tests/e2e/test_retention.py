"""KEEP_IMAGES_DAYS end to end: the sweep removes an older grid's files at the bot's start,
its row stays, its buttons answer privately that the images expired, /info shows admins
the disk used."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from tests.e2e.expect import eventually, job_id, private_reply, refused_privately, wait_result
from tests.e2e.fake_discord import FakeDiscord


def test_an_expired_grid_keeps_its_row_and_its_buttons_say_so(
    fake_discord: FakeDiscord, bot_factory
) -> None:
    bot = bot_factory(KEEP_IMAGES_DAYS=30)
    alice, mod = fake_discord.member("alice"), fake_discord.member("mod")
    grid = wait_result(fake_discord.invoke("imagine", alice, prompt="a fox to forget --steps 4"))
    number = job_id(grid)
    folder = bot.data_dir / "images" / str(number)
    assert (folder / "grid.png").is_file()

    # The sweep's first pass runs at start (then hourly): it measures the files of jobs
    # delivered since, for the running total /info shows admins.
    assert bot.stop() == 0
    bot.start()
    size = sum(path.stat().st_size for path in folder.iterdir())
    eventually(lambda: bot.query("SELECT bytes FROM disk_usage"), [(size,)])
    shown = private_reply(fake_discord.invoke("info", mod)).content
    assert f"Disk used by images: {size / 1e6:.1f} MB (kept 30 days)." in shown, shown
    assert "Disk used" not in private_reply(fake_discord.invoke("info", alice)).content

    # 31 days later (the row made older while the bot is stopped): the next start's pass
    # removes the files; the row, its prompt and its image rows stay.
    assert bot.stop() == 0
    with sqlite3.connect(bot.db_path) as connection:
        [(created,)] = connection.execute("SELECT created_at FROM jobs WHERE id = ?", (number,))
        older = datetime.fromisoformat(created) - timedelta(days=31)
        connection.execute(
            "UPDATE jobs SET created_at = ? WHERE id = ?",
            (older.isoformat(timespec="milliseconds"), number),
        )
    connection.close()
    bot.start()
    expired = "SELECT images_expired_at IS NOT NULL, disk_bytes FROM jobs WHERE id = ?"
    eventually(lambda: bot.query(expired, number), [(1, 0)])
    assert not folder.exists()
    assert bot.query("SELECT bytes FROM disk_usage") == [(0,)]
    [(prompt, status)] = bot.query("SELECT prompt, status FROM jobs WHERE id = ?", number)
    assert prompt.startswith("a fox to forget") and status == "done"
    assert bot.query("SELECT COUNT(*) FROM images WHERE job_id = ?", number) == [(4,)]

    said = f"The images of job {number} have expired: images are kept 30 days on this bot."
    for label in ("U1", "V2"):
        reply = refused_privately(fake_discord.press(grid, label, alice), alice)
        assert reply.content == said
    assert bot.count_jobs() == 1, "no job was started"

"""A /history page: its heading, one line per job (a section with its thumbnail when it
has one, a spoiler when flagged images in it are blurred), and Previous / Next."""

from __future__ import annotations

from pathlib import Path

import discord

from bot.discord_app import history
from bot.discord_app.history import HistoryButton, job_line, page_view
from bot.discord_app.text import safe_prompt
from core.model import HistoryPage, Job, JobParams
from core.outputs import Thumbnail
from core.recipes import Imagine
from tests.bot.discord_app.offline import dynamic_items, make_bot

USER = 42
CREATED = "2030-01-01T00:00:00+00:00"
STAMP = 1893456000


def job(job_id: int, prompt: str = "a fox", **overrides) -> Job:
    fields = {
        "id": job_id,
        "parent_id": None,
        "parent_index": None,
        "user_id": USER,
        "guild_id": 1,
        "channel_id": 2,
        "message_id": None,
        "prompt": prompt,
        "negative": "",
        "params": JobParams(width=64, height=64, steps=2, guidance=7.0),
        "recipe": Imagine(),
        "seed": 7,
        "status": "done",
        "error": None,
        "attempts": 1,
        "created_at": CREATED,
        "started_at": CREATED,
        "finished_at": CREATED,
    }
    fields.update(overrides)
    return Job(**fields)


def test_a_line_names_the_job_and_links_to_its_message_when_it_has_one() -> None:
    assert job_line(job(5)) == f"`job 5` imagine · a fox · done · seed 7 · <t:{STAMP}:R>"
    linked = job_line(job(5, message_id=99))
    assert linked.endswith(" · [jump](https://discord.com/channels/1/2/99)")
    long = job_line(job(6, "[x](https://evil.example) " + "word " * 40))
    assert safe_prompt("[x](https://evil.example) " + "word " * 40, 60) in long
    assert "](https://evil" not in long


def test_a_page_is_a_heading_a_section_per_job_and_the_buttons() -> None:
    page = HistoryPage(USER, page=2, pages=3, total=25, jobs=[job(12), job(11), job(10)])
    thumbnails = {12: Thumbnail(Path("a.webp")), 10: Thumbnail(Path("b.webp"), blurred=True)}
    heading, first, second, third, buttons = page_view(page, thumbnails).children
    assert isinstance(heading, discord.ui.TextDisplay)
    assert heading.content == f"Jobs of <@{USER}>, newest first (page 2 of 3):"
    assert isinstance(first, discord.ui.Section) and isinstance(third, discord.ui.Section)
    assert isinstance(second, discord.ui.TextDisplay)  # no images: a line alone
    assert second.content == job_line(job(11))
    for section, job_id, spoiler in ((first, 12, False), (third, 10, True)):
        picture = section.accessory
        assert isinstance(picture, discord.ui.Thumbnail)
        assert picture.media.url == f"attachment://job-{job_id}.webp"
        assert picture.spoiler is spoiler
    assert isinstance(buttons, discord.ui.ActionRow)
    previous, following = buttons.children
    assert (previous.custom_id, following.custom_id) == (f"h:{USER}:1", f"h:{USER}:3")  # type: ignore[attr-defined]
    assert not previous.item.disabled and not following.item.disabled  # type: ignore[attr-defined]


def test_an_empty_history_says_so_with_both_buttons_off() -> None:
    empty, buttons = page_view(HistoryPage(USER, 1, 1, 0, []), {}).children
    assert isinstance(empty, discord.ui.TextDisplay)
    assert empty.content == f"<@{USER}> has no jobs here yet."
    assert [b.item.disabled for b in buttons.children] == [True, True]  # type: ignore[attr-defined]


def test_setup_adds_history_and_its_page_buttons() -> None:
    bot = make_bot()
    history.setup(bot)
    assert [command.name for command in bot.tree.get_commands()] == ["history"]
    assert dynamic_items(bot) == {HistoryButton}

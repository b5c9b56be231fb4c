"""The pages of /admin banword list: each fits a message, and every entry is on one."""

from __future__ import annotations

from bot.discord_app.admin import WordPageButton, word_page, word_pages
from bot.discord_app.custom_ids import Page
from bot.discord_app.text import safe_prompt
from core.wordfilter import check_entry


def units(text: str) -> int:
    """Length as Discord counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def test_every_page_fits_and_every_entry_is_shown_whole_in_order() -> None:
    kinds = [
        "🍆" * 100,  # two UTF-16 units each
        ("@here " * 20)[:99] + "x",  # @ escaped with a zero-width space: three each
        ("[a](https://x.example) " * 5)[:100],
        "nud*",
    ]
    words = [check_entry(f"{n} {kinds[n % 4]}"[:100]) for n in range(500)]
    pages = word_pages(words)
    assert len(pages) > 1
    shown = [entry for page in pages for entry in page.split(" · ")]
    assert shown == [safe_prompt(word, 2000) for word in words]
    for number in range(1, len(pages) + 1):
        content, view = word_page(words, number)
        assert units(content) <= 2000 and f"page {number} of {len(pages)}" in content
        assert view is not None
        previous, following = view.children
        assert previous.custom_id == f"bw:{number - 1}"  # type: ignore[attr-defined]
        assert previous.item.disabled == (number == 1)  # type: ignore[attr-defined]
        assert following.item.disabled == (number == len(pages))  # type: ignore[attr-defined]


def test_a_short_list_is_one_page_without_buttons() -> None:
    assert word_page([], 1) == ("Blocked here: none", None)
    assert word_page(["gore", "a*b"], 1) == ("Blocked here: gore · a\\*b", None)


def test_a_page_past_the_end_shows_the_last() -> None:
    words = [f"word{n} " + "x" * 90 for n in range(100)]
    last = len(word_pages(words))
    assert word_page(words, last + 5)[0] == word_page(words, last)[0]
    assert word_page(words, 0)[0] == word_page(words, 1)[0]
    assert WordPageButton(Page(3), label="Next").item.custom_id == "bw:3"

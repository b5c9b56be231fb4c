"""Pages users turn with a number (core/paging.py)."""

from __future__ import annotations

import pytest

from core.errors import BadParameter
from core.paging import PAGE_SIZE, page_count, page_offset


def test_page_offsets_start_at_one():
    assert [page_offset(page) for page in (1, 2, 3)] == [0, PAGE_SIZE, 2 * PAGE_SIZE]
    assert page_offset(3, size=4) == 8


@pytest.mark.parametrize("page", [0, -1])
def test_a_page_below_one_is_a_bad_parameter(page):
    with pytest.raises(BadParameter, match=f"`page` starts at 1; {page} is not a page") as bad:
        page_offset(page)
    assert bad.value.parameter == "page"


@pytest.mark.parametrize(
    ("total", "pages"), [(0, 1), (1, 1), (PAGE_SIZE, 1), (PAGE_SIZE + 1, 2), (95, 10)]
)
def test_page_count(total, pages):
    assert page_count(1, total) == pages
    assert page_count(pages, total) == pages  # the last page is a page


def test_a_page_past_the_end_says_how_many_there_are():
    with pytest.raises(BadParameter, match="Page 2 is past the end: there is 1 page, from 1 to 1"):
        page_count(2, 0)
    with pytest.raises(BadParameter, match="Page 4 is past the end: there are 3 pages, from 1"):
        page_count(4, 25)
    assert page_count(5, 9, size=2) == 5

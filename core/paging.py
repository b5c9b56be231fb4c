"""Pages of a list that users turn with a number (/history, /admin audit)."""

from __future__ import annotations

import math

from core.errors import BadParameter

PAGE_SIZE = 10


def page_offset(page: int, size: int = PAGE_SIZE) -> int:
    """The first row of ``page`` (from 1); ``BadParameter`` below 1."""
    if page < 1:
        raise BadParameter("page", f"`page` starts at 1; {page} is not a page.")
    return (page - 1) * size


def page_count(page: int, total: int, size: int = PAGE_SIZE) -> int:
    """How many pages ``total`` rows make (an empty list has one, empty); ``BadParameter``
    when ``page`` is past the end."""
    pages = max(1, math.ceil(total / size))
    if page > pages:
        there = "is 1 page" if pages == 1 else f"are {pages} pages"
        raise BadParameter(
            "page", f"Page {page} is past the end: there {there}, from 1 to {pages}."
        )
    return pages

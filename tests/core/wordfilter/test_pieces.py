"""Pieces (core/wordfilter/pieces.py): a prompt cut into the runs the matcher walks, and
where pieces join into one word."""

from __future__ import annotations

import pytest

from core.wordfilter.fold import O_PAIR
from core.wordfilter.pieces import Pieces, cut, digraph_reading, is_ordinary_as_typed


def pieces_of(pieces: Pieces) -> list[tuple[str, str, str, bool]]:
    """Each piece as (its folded letters, kind, as typed, joins the one before)."""
    return [
        ("".join(pieces.stream[start:end]), kind, raw, joined)
        for start, end, kind, raw, joined in zip(
            pieces.starts, pieces.ends, pieces.kinds, pieces.raws, pieces.joined, strict=True
        )
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # punctuation inside a word joins
        ("n.u.d.e", [("n", "L", "n", False)] + [(c, "L", c, True) for c in "ude"]),
        # a camelCase hump joins two pieces, an ordinary word with a hump is one
        ("NudeBeach", [("nude", "L", "Nude", False), ("beach", "L", "Beach", True)]),
        ("YouTube", [("youtube", "L", "YouTube", False)]),
        # letters and leet characters are pieces of one word
        ("n00d", [("n", "L", "n", False), ("00", "D", "00", True), ("d", "L", "d", True)]),
        ("g()re", [("g", "L", "g", False), (O_PAIR, "D", O_PAIR, True), ("re", "L", "re", True)]),
        # a model number's digits are digits
        ("RTX4090", [("rtx", "L", "RTX", False), ("4090", "N", "4090", True)]),
        ("1080p", [("1080", "N", "1080", False), ("p", "L", "p", True)]),
        # a compound written as one word too is one piece; another is two joined ones
        ("Gore-Tex", [("goretex", "L", "GoreTex", False)]),
        ("nude-beach", [("nude", "L", "nude", False), ("beach", "L", "beach", True)]),
        # across a space: joined around a single letter, unless both are ordinary words
        ("nake d", [("nake", "L", "nake", False), ("d", "L", "d", True)]),
        ("a hole", [("a", "L", "a", False), ("hole", "L", "hole", False)]),
        ("to be", [("to", "L", "to", False), ("be", "L", "be", False)]),
        # wide letters: one piece each
        ("東京", [("東", "W", "東", False), ("京", "W", "京", True)]),
    ],
)
def test_cut(text, expected):
    assert pieces_of(cut(text)) == expected


def test_the_two_readings_of_another_script():
    assert pieces_of(cut("ГОЛЫЙ")) == [("golbly", "L", "ГОЛЫЙ", False)]
    assert pieces_of(cut("ГОЛЫЙ", visual=False)) == [("golyy", "L", "ГОЛЫЙ", False)]


def test_nothing_to_cut():
    assert len(cut("")) == 0 and len(cut(" ... ")) == 0


def test_digraphs_are_read_as_the_letters_they_stand_for():
    reading = digraph_reading(cut("phuck vvhore"))
    assert reading is not None
    assert pieces_of(reading) == [
        ("fuck", "L", "phuck", False),
        ("whore", "L", "vvhore", False),
    ]
    assert digraph_reading(cut("nude p.h")) is None  # no ph inside a letter piece


def test_ordinary_as_typed_only_in_the_cases_people_write():
    for word in ("good", "GOOD", "Good"):
        assert is_ordinary_as_typed(word), word
    assert not is_ordinary_as_typed("gOOd")
    assert not is_ordinary_as_typed("kiII")  # a capital I for an l: read as it looks
    assert not is_ordinary_as_typed("zzqx")

"""Folding (core/wordfilter/fold.py): text as the filter reads it, prompt and entries
alike."""

from __future__ import annotations

import pytest

from core.wordfilter.fold import (
    I_OR_L,
    O_PAIR,
    X_PAIR,
    capital_i,
    char_kind,
    emoji_core,
    fold_pairs,
    is_pictograph,
    normalise,
    pair_symbols,
    readings,
)


def test_normalisation():
    assert normalise("Ｎüde\u200b") == "nude"
    assert normalise("ɴᴜᴅᴇ") == "nude"
    assert normalise("nudе") == "nude"  # Cyrillic е
    assert normalise("aß") == "aß"
    assert normalise("ẞ") == "ß"
    assert normalise("n.u d") == "n.u d"  # punctuation and spaces kept
    assert readings("hello") == ["hello"]
    assert readings("ГОЛЫЙ") == [normalise("ГОЛЫЙ"), "golyy"]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("🇳🇺🇩🇪", "nude"),  # regional indicators
        ("ᑎᑌᗪᗴ", "nude"),  # Canadian syllabics
        ("nu\u00adde", "nude"),  # a soft hyphen is invisible
        ("HELLO, World!", "hello, world!"),
        ("東京", "東京"),  # wide letters stay as they are
        ("a🍆b", "a🍆b"),  # emoji kept: they separate words
    ],
)
def test_normalise_reads_through_lookalikes_and_keeps_separators(text, folded):
    assert normalise(text) == folded


def test_text_outside_ascii_is_also_read_transliterated_once():
    assert readings("Ñude") == ["nude"]  # both ways the same: one reading
    assert readings("голый") == ["rolyy", "golyy"]  # г looks like r, reads as g


def test_fold_pairs_keeps_each_character_as_typed():
    assert fold_pairs("Ñu\u2009de") == [
        ("Ñ", "n"),
        ("u", "u"),
        ("\u2009", ""),
        ("d", "d"),
        ("e", "e"),
    ]
    # Visual reading maps a lookalike to the letter it imitates; the other transliterates.
    assert fold_pairs("р") == [("р", "p")]
    assert fold_pairs("р", visual=False) == [("р", "r")]


def test_two_character_leet_letters_become_one_character():
    assert pair_symbols("g()re se><") == f"g{O_PAIR}re se{X_PAIR}"
    assert pair_symbols("(a) > <") == "(a) > <"  # not a pair


def test_a_capital_i_reads_as_i_or_l():
    assert capital_i(fold_pairs("kIl")) == [("k", "k"), ("I", I_OR_L), ("l", "l")]
    assert capital_i(fold_pairs("kil")) == fold_pairs("kil")


@pytest.mark.parametrize(
    ("char", "kind"),
    [
        (" ", " "),
        (".", "P"),
        ("-", "P"),
        ("5", "D"),
        ("@", "D"),
        ("$", "D"),
        (O_PAIR, "D"),
        ("a", "L"),
        (I_OR_L, "L"),
        ("東", "W"),
        ("한", "W"),
    ],
)
def test_char_kind(char, kind):
    assert char_kind(char) == kind


def test_emoji_are_compared_without_skin_tones_selectors_or_spaces():
    assert is_pictograph("🍆") and is_pictograph("🖕")
    assert not is_pictograph("🅽")  # a letter in a square is a letter
    assert not is_pictograph("a")
    assert emoji_core("🖕🏽\ufe0f 🍆") == "🖕🍆"
    assert emoji_core("👨\u200d👩") == "👨👩"

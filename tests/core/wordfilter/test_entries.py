"""Entries (core/wordfilter/entries.py): what an admin may block, and how an entry is read
into words, runs and plurals."""

from __future__ import annotations

import pytest

from core.wordfilter.entries import (
    MAX_ENTRY_CHARS,
    MAX_PLURAL_WORD,
    atoms_of,
    check_entry,
    literal_words,
    plurals,
    runs,
)


@pytest.mark.parametrize(
    ("word", "entry"),
    [
        ("nude", "nude"),
        ("  Nude  ", "nude"),
        ("Hate   Speech", "hate speech"),
        ("nud*", "nud*"),
        ("Hate Sp*", "hate sp*"),
        ("Straße", "straße"),  # lower case, not casefold
        ("🍆", "🍆"),
        ("r34", "r34"),
        ("4k", "4k"),
        ("x" * 100, "x" * 100),
        ("裸体", "裸体"),
        ("hate\tspeech", "hate speech"),  # a tab is a space
    ],
)
def test_check_entry_accepts(word, entry):
    assert check_entry(word) == entry


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("", "Give a word"),
        ("   ", "Give a word"),
        ("123", "needs a letter or an emoji"),
        ("***", "needs a letter or an emoji"),
        ("!!", "needs a letter or an emoji"),
        ("*", "needs a letter or an emoji"),
        ("4 2", "needs a letter or an emoji"),
        ("x" * 101, "at most 100 characters"),
        ("n*de", "can only end an entry"),
        ("*nude", "can only end an entry"),
        ("nud**", "can only end an entry"),
        ("nud *", "can only end an entry"),
        ("🍆*", "is for words"),
        ("nu\x00de", "U\\+0000"),
        ("nu\ud800de", "U\\+D800"),
    ],
)
def test_check_entry_refuses(word, message):
    with pytest.raises(ValueError, match=message):
        check_entry(word)


def test_the_length_limit_counts_the_entry_after_spaces_collapse():
    assert MAX_ENTRY_CHARS == 100
    assert check_entry("a" + " " * 200 + "b") == "a b"


def test_an_entry_is_read_into_words_in_each_reading():
    assert atoms_of("Hate-Speech") == ([["hate", "speech"]], False)  # punctuation separates
    assert atoms_of("nud*") == ([["nud"]], True)
    assert atoms_of("r34") == ([["r34"]], False)
    # Another script: as its lookalikes (г looks like r) and transliterated (г is g).
    assert atoms_of("голый") == ([["rolyy"], ["golyy"]], False)
    # Digits or punctuation alone are no words to find.
    assert atoms_of("!!") == ([], False)
    assert atoms_of("4 2") == ([], False)


def test_literal_words_keep_accents():
    assert literal_words("Nüde Beach!") == ["nüde", "beach"]
    assert literal_words("hate-speech") == ["hate", "speech"]


def test_runs_collapse_each_letter_and_count_it():
    assert runs("nude") == ("nude", (1, 1, 1, 1))
    assert runs("nuuudee") == ("nude", (1, 3, 1, 2))
    assert runs("xxx") == ("x", (3,))
    assert runs("") == ("", ())


def test_english_plurals():
    assert plurals("nude") == ["nudes"]
    assert plurals("ass") == ["asss", "asses"]
    assert plurals("church") == ["churchs", "churches"]
    assert plurals("pony") == ["ponys", "ponies"]
    assert plurals("day") == ["days"]  # a vowel before the y
    assert plurals("y") == ["ys"]
    assert plurals("x" * (MAX_PLURAL_WORD + 1)) == []  # longer than any English word
    assert plurals("裸") == [] and plurals("r34") == []

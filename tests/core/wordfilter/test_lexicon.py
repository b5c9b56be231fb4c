"""Ordinary words (core/wordfilter/lexicon.py): the words of ~40 languages the filter
leaves as typed, and the English words that are written as one word."""

from __future__ import annotations

import pytest

from core.wordfilter import lexicon


@pytest.mark.parametrize("word", ["good", "GOOD", "Boots", "год", "bốt", "kıllı", "göre"])
def test_words_people_write_in_some_language_are_ordinary(word):
    assert lexicon.is_ordinary(word)


@pytest.mark.parametrize("word", ["", "zzqxv", "n00d", "nuuude", "goretex"])
def test_words_nobody_writes_are_not(word):
    assert not lexicon.is_ordinary(word)


def test_compounds_written_as_one_word_in_english():
    for word in ("goretex", "GoreTex", "hatespeech", "bloodbath"):
        assert lexicon.is_one_word(word), word
    for word in ("nudebeach", "killthem", ""):
        assert not lexicon.is_one_word(word), word


def test_the_indexes_are_loaded_once_and_their_size_is_known():
    lexicon.load()
    size = lexicon.nbytes()
    lexicon.load()  # a second load reads nothing again
    assert lexicon.nbytes() == size
    # Hashes of 8 bytes: more than a million words, within the documented ~14 MB.
    assert 8_000_000 < size < 20_000_000

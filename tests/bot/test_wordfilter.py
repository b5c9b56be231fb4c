"""Blocked words: evasions that must match, innocent words that must not."""

from __future__ import annotations

import pytest

from bot.wordfilter import find_blocked, normalise, words_of

BLOCKED = ["nude", "ass", "gore", "hate speech", "naked body"]


@pytest.mark.parametrize(
    "prompt",
    [
        "a nude figure",
        "NUDE",
        "a Nude statue",
        "nüde",  # accents
        "ñudé",
        "Ｎｕｄｅ painting",  # full-width forms
        "nu\u200bde",  # zero-width space
        "n\u200cu\u200dd\u2060e",  # several invisible characters
        "nuuuuude",  # repeated letters
        "nnnuuddeee",
        "n.u.d.e",  # punctuation between letters
        "n u d e",  # spaces between letters
        "n-u-d-e art",
        "n_u_d_e",
        "nu.de",
        "nudes",  # plural
        "a pic, nude.",
        "(nude)",
        "kick ass",
        "a s s",
        "asssss",
        "asses",
        "GORE!!!",
        "g.o.r.e",
        "hate speech",
        "Hate   Speech",
        "hate-speech",
        "hatespeech",
        "naked  body",
        "N A K E D body",
    ],
)
def test_evasions_are_caught(prompt):
    assert find_blocked(prompt, BLOCKED) is not None


@pytest.mark.parametrize(
    "prompt",
    [
        "a class photo",
        "an assassin in the night",
        "a passage through the hills",
        "brass instruments",
        "as the sun sets",  # "as" is not "ass"
        "a grassy bass lake",
        "gorgeous gorge",  # "gore" inside other words
        "Gorey style illustration",
        "nudibranch underwater",
        "a denuded hillside",
        "hate the rain",  # one word of a phrase alone
        "speech bubble",
        "a naked mole rat",
        "the body of a car",
        "Massachusetts harbour",
    ],
)
def test_innocent_words_pass(prompt):
    assert find_blocked(prompt, BLOCKED) is None


def test_the_entry_found_is_returned_and_phrases_are_normalised():
    assert find_blocked("a n.u.d.e", ["gore", "Nüde"]) == "Nüde"
    assert find_blocked("HATE SPEECH", ["  hate   speech "]) == "  hate   speech "
    assert find_blocked("anything", []) is None
    assert find_blocked("anything", ["", "..."]) is None


def test_normalisation_and_words():
    assert normalise("Ｎüde\u200b") == "nude"
    assert words_of("n.u.d.e and nu.de") == [
        *("n", "u", "d", "e", "nu", "nud", "nude", "ud", "ude", "de"),
        *("and", "nu", "de", "nude"),
    ]

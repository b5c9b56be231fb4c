"""Blocked words that case, accents, repeated letters, zero-width characters, full-width
forms or punctuation and spaces between letters do not get past, and that do not fire
on innocent words containing them (a blocked "ass" leaves "class" and "assassin" alone).

A prompt is normalised (NFKC, zero-width characters removed, case folded, accents
stripped) and cut into words. A blocked word matches a whole word, allowing each of its
letters to repeat and a plural ending; letters spelled apart ("n u d e", "n.u.d.e") are
joined back first. A blocked phrase matches consecutive words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
        "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u206a\u206b\u206c\u206d"
        "\u206e\u206f\u3164\ufeff\uffa0",
    ),
    None,
)
_LETTERS = re.compile(r"[^\W_]+")  # runs of letters and digits
_MAX_SPELLED = 40  # letters spelled apart that are joined back, at most


def normalise(text: str) -> str:
    """Full-width and compatibility forms folded, invisible characters dropped, case
    folded, accents stripped."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words_of(text: str) -> list[str]:
    """The words of ``text``, and the words that letters spelled apart make.

    "n.u.d.e", "n u d e" and "n-u-d-e" each give "nude", also after an "a" ("a n u d e"
    gives every run of its single letters: "an", "anu", ..., "nude", ...); "nu.de" gives
    "nu", "de" and "nude".
    """
    words: list[str] = []
    singles: list[str] = []

    def flush() -> None:
        words.extend(singles)
        run = singles[:_MAX_SPELLED]
        for start in range(len(run)):
            for end in range(start + 2, len(run) + 1):
                words.append("".join(run[start:end]))
        singles.clear()

    for chunk in normalise(text).split():
        pieces = _LETTERS.findall(chunk)
        if not pieces:
            continue
        if all(len(piece) == 1 for piece in pieces):
            singles.extend(pieces)  # letters spelled apart, maybe across spaces
            continue
        flush()
        words.extend(pieces)
        if len(pieces) > 1:
            words.append("".join(pieces))  # "nu.de" as well as "nu" and "de"
    flush()
    return words


def word_sequence(text: str) -> list[str]:
    """The words in order, for phrases: letters spelled apart joined into one word."""
    sequence: list[str] = []
    spelled = ""
    for chunk in normalise(text).split():
        pieces = _LETTERS.findall(chunk)
        if pieces and all(len(piece) == 1 for piece in pieces):
            spelled += "".join(pieces)
            continue
        if spelled:
            sequence.append(spelled)
            spelled = ""
        sequence.extend(pieces)
    if spelled:
        sequence.append(spelled)
    return sequence


@lru_cache(maxsize=4096)
def _word_pattern(word: str) -> re.Pattern[str]:
    # Each letter may repeat ("nuuude"); a plural ending is allowed ("nudes").
    letters = "".join(f"(?:{re.escape(ch)})+" for ch in word)
    return re.compile(rf"^{letters}(?:e?s)?$")


def _phrase_words(phrase: str) -> list[str]:
    return [piece for piece in _LETTERS.findall(normalise(phrase)) if piece]


def find_blocked(text: str, blocked: Iterable[str]) -> str | None:
    """The first blocked word or phrase that ``text`` contains, or None."""
    words = words_of(text)
    sequence = word_sequence(text)
    for entry in blocked:
        parts = _phrase_words(entry)
        if not parts:
            continue
        patterns = [_word_pattern(part) for part in parts]
        if len(patterns) == 1:
            if any(patterns[0].match(word) for word in words):
                return entry
            continue
        # A phrase: consecutive words; also written as one ("hatespeech").
        for start in range(len(sequence) - len(patterns) + 1):
            window = sequence[start : start + len(patterns)]
            if all(p.match(w) for p, w in zip(patterns, window, strict=True)):
                return entry
        joined = _word_pattern("".join(parts))
        if any(joined.match(word) for word in words):
            return entry
    return None

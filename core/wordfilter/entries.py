"""What an admin may block: checking an entry, and reading it into words."""

from __future__ import annotations

import re
import unicodedata

from core.wordfilter.fold import char_kind, is_pictograph, normalise, readings

MAX_ENTRY_CHARS = 100
MAX_PLURAL_WORD = 30
_WORD = re.compile(r"[^\W_]+")
_DOUBLE = re.compile(r"(.)\1+", re.DOTALL)


def check_entry(word: str) -> str:
    """The entry an admin asked to block, normalised: spaces collapsed, lower case.

    A trailing ``*`` (``nud*``) blocks every word that starts with what comes before it.
    Raises ``ValueError`` with a message for the admin when the entry is too long, has no
    letter or emoji, or has a ``*`` anywhere but right after its last word.
    """
    odd = next((c for c in word if unicodedata.category(c) in ("Cs", "Cc") and c != "\t"), None)
    if odd is not None:
        raise ValueError(
            f"A blocked word or phrase cannot hold the character U+{ord(odd):04X} "
            "(a control character or half of a pair): it cannot be stored."
        )
    entry = " ".join(word.split()).lower()
    if not entry:
        raise ValueError("Give a word or a phrase to block.")
    if len(entry) > MAX_ENTRY_CHARS:
        raise ValueError(f"A blocked word or phrase is at most {MAX_ENTRY_CHARS} characters.")
    body = entry.removesuffix("*")
    emoji = any(is_pictograph(c) for c in unicodedata.normalize("NFKC", body))
    if not emoji and not any(char_kind(c) in "LW" for c in normalise(body.replace("*", " "))):
        raise ValueError(
            "A blocked word or phrase needs a letter or an emoji: "
            "numbers and punctuation alone cannot be blocked."
        )
    if "*" in body or body.endswith(" "):
        raise ValueError(
            "`*` can only end an entry, right after a word: `nud*` blocks every word "
            "starting with `nud`."
        )
    if emoji and entry.endswith("*"):
        raise ValueError("`*` is for words: an emoji is found anywhere in a prompt already.")
    return entry


def atoms_of(entry: str) -> tuple[list[list[str]], bool]:
    """The folded words of an entry (runs of letters and digits), in each of its
    :func:`readings`, and whether it is a prefix."""
    text = entry.strip()
    prefix = text.endswith("*")
    text = text.rstrip("*")
    forms = []
    for folded in readings(text):
        # Punctuation separates words too: "hate-speech" is the phrase "hate speech".
        if folded.replace(" ", "").isalpha():
            words, lettered = folded.split(), True  # letters and spaces only: the usual case
        else:
            words = "".join(c if char_kind(c) in "LWD" else " " for c in folded).split()
            lettered = any(char_kind(c) in "LW" for w in words for c in w)
        if words and lettered and words not in forms:
            forms.append(words)
    return forms, prefix


def literal_words(entry: str) -> list[str]:
    """The words of an entry as written (lower case, accents kept): what a prompt that
    writes them plainly holds."""
    return _WORD.findall(unicodedata.normalize("NFC", entry).lower())


def runs(word: str) -> tuple[str, tuple[int, ...]]:
    """``word`` with each run of a letter collapsed to one, and the runs' lengths."""
    letters: list[str] = []
    counts: list[int] = []
    done = 0
    for run in _DOUBLE.finditer(word):  # only the runs of 2 or more, usually few
        start, end = run.span()
        letters.append(word[done : start + 1])
        counts.extend((1,) * (start - done))
        counts.append(end - start)
        done = end
    if not done:
        return word, (1,) * len(word)  # no letter twice in a row: the usual word
    letters.append(word[done:])
    counts.extend((1,) * (len(word) - done))
    return "".join(letters), tuple(counts)


def plurals(word: str) -> list[str]:
    """The plural forms of an English word: s, es, and y -> ies (none for a string longer
    than any English word)."""
    if len(word) > MAX_PLURAL_WORD or not word[-1:].isascii() or not word[-1:].isalpha():
        return []
    forms = [word + "s"]
    if word.endswith(("s", "x", "z", "ch", "sh", "o")):
        forms.append(word + "es")
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        forms.append(word[:-1] + "ies")
    return forms

"""A prompt cut into the pieces the matcher walks: runs of letters, of leet characters, or
one wide letter each, with what each piece was as typed and whether it joins the one
before it into one word.

Where pieces join (one segment, read as one word or as several):

- inside a word as typed: across punctuation (``n.u.d.e``, ``hate-speech``), between
  letters and leet characters (``n00d``), at a camelCase hump (``NudeBeach``) unless the
  whole word is an ordinary word (``YouTube``, ``iPhone``);
- across a space, when both pieces are letters, one of them is a single letter and the
  other has at most 3 letters or is not an ordinary word (``n u d e``, ``nake d``,
  ``n aked``; but ``a hole`` and ``to be`` stay apart).

Words as typed that are not read as anything else: a hyphenated compound that people also
write as one word (``Gore-Tex``, ``Coca-Cola``) is one piece, its parts joined; the digits
of a model number (letters then more digits than letters: ``A55``, ``RTX4090``,
``1080p``) are digits, not leetspeak.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from core.wordfilter.fold import KIND, char_kind, fold_pairs, pair_symbols
from core.wordfilter.lexicon import is_one_word, is_ordinary

_CODE = re.compile(r"^(?:([^\W\d_]+)(\d+)|(\d+)([^\W\d_]+))$")
_DIGRAPHS = (("ph", "f"), ("vv", "w"))


@dataclass(slots=True)
class Pieces:
    """One reading of a prompt, cut into pieces over ``stream`` (folded characters)."""

    stream: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # L letters, D leet, N digits, W wide
    raws: list[str] = field(default_factory=list)  # each piece as typed
    joined: list[bool] = field(default_factory=list)  # continues the piece before it

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def ends(self) -> list[int]:
        """Where each piece ends in ``stream``."""
        return [*self.starts[1:], len(self.stream)]

    def _open(self, kind: str, joined: bool) -> None:
        self.starts.append(len(self.stream))
        self.kinds.append(kind)
        self.raws.append("")
        self.joined.append(joined)


def is_ordinary_as_typed(word: str) -> bool:
    """An ordinary word (:func:`is_ordinary`) in the case people write words in: small
    letters, capitals, or a capital first. ``kiII`` (a capital I for an l) is not
    ``kiii``: it is read as it looks."""
    cased = word.islower() or word.isupper() or word.istitle() or not word.isalpha()
    return cased and is_ordinary(word)


def _is_code(word: str) -> bool:
    """Letters and digits, the digits at one end, at least two and more than the letters:
    a model number or a unit (``A55``, ``RTX4090``, ``1080p``), not leetspeak."""
    match = _CODE.match(word)
    if match is None:
        return False
    letters, digits = (match[1], match[2]) if match[1] else (match[4], match[3])
    return len(digits) >= 2 and len(digits) > len(letters)


def _is_one_word(word: str) -> bool:
    """A hyphenated compound that people also write as one word (``Gore-Tex``,
    ``Coca-Cola``, ``hate-speech``), not two words (``nude-beach``)."""
    parts = word.split("-")
    return (
        len(parts) > 1
        and all(len(p) > 1 and p.isalpha() for p in parts)
        and is_one_word("".join(parts))
    )


def _has_hump(word: str) -> bool:
    if word.islower() or word.isupper():
        return False
    return any(a.islower() and b.isupper() for a, b in itertools.pairwise(word))


def _cut_word(out: Pieces, word: list[tuple[str, str]]) -> None:
    """Append the pieces of one word as typed (the characters between two spaces)."""
    folded_word = "".join(folded for _, folded in word)
    typed = "".join(ch for ch, folded in word if folded)
    if folded_word.isascii() and folded_word.isalpha() and (typed.islower() or len(word) == 1):
        # Plain letters, no hump: one piece (the usual word, and the fast way).
        out.starts.append(len(out.stream))
        out.kinds.append("L")
        out.raws.append(typed)
        out.joined.append(False)
        out.stream.extend(folded_word)
        return
    typed = typed.strip("()[]{}<>\"'.,;:!?*")
    code = _is_code(typed)
    name = "-" in typed and _is_one_word(typed)
    humps = _has_hump(typed) and not is_ordinary(typed)
    current = ""  # the kind of the open piece ("" after punctuation or at the start)
    previous = ""
    first = True
    kind_of = KIND.get
    for ch, folded in word:
        kept = False
        for c in folded:
            kind = kind_of(c) or char_kind(c)
            if kind == "P" or kind == " ":
                if not (name and c == "-"):
                    current = ""
                continue
            if kind == "D" and code and c.isdigit():
                kind = "N"
            hump = humps and kind == "L" and ch.isupper() and previous.islower()
            if kind != current or kind == "W" or hump:
                out._open(kind, joined=not first)
                current = kind
                first = False
            out.stream.append(c)
            kept = True
        if kept:
            out.raws[-1] += ch
        previous = ch


def cut(text: str, visual: bool = True) -> Pieces:
    """``text`` read one way (``visual``: lookalikes as the Latin letters they imitate;
    else transliterated), cut into pieces."""
    return cut_folded(fold_pairs(pair_symbols(text), visual))


def cut_folded(pairs: list[tuple[str, str]]) -> Pieces:
    """Pieces from each character as typed and what it folds to (:func:`fold_pairs`)."""
    out = Pieces()
    word: list[tuple[str, str]] = []
    firsts: list[int] = []  # the first piece of each word after the first
    for ch, folded in pairs:
        if folded.isspace():
            if word:
                before = len(out)
                _cut_word(out, word)
                if len(out) > before:
                    firsts.append(before)
                word = []
            continue
        word.append((ch, folded))
    if word:
        before = len(out)
        _cut_word(out, word)
        if len(out) > before:
            firsts.append(before)
    for i in firsts:
        out.joined[i] = i > 0 and _joins_across_space(out, i - 1, i)
    return out


def _joins_across_space(out: Pieces, a: int, b: int) -> bool:
    """Whether pieces ``a`` and ``b``, a space apart, are read as one word: both letters,
    one a single letter, the other short or not an ordinary word (``nake d``)."""
    if out.kinds[a] != "L" or out.kinds[b] != "L":
        return False
    starts = out.starts
    size_a = starts[b] - starts[a]
    size_b = (starts[b + 1] if b + 1 < len(starts) else len(out.stream)) - starts[b]
    if size_a != 1 and size_b != 1:
        return False
    other, size = (b, size_b) if size_a == 1 else (a, size_a)
    return size <= 3 or not is_ordinary_as_typed(out.raws[other])


def digraph_reading(pieces: Pieces) -> Pieces | None:
    """``pieces`` with ``ph`` read as ``f`` and ``vv`` as ``w`` in letter pieces, or None
    when there are none."""
    ends = pieces.ends
    letters = [
        "".join(pieces.stream[start:end])
        for start, end, kind in zip(pieces.starts, ends, pieces.kinds, strict=True)
        if kind == "L" and end - start > 1
    ]
    if not any(pair in chunk for chunk in letters for pair, _ in _DIGRAPHS):
        return None
    out = Pieces(raws=list(pieces.raws), kinds=list(pieces.kinds), joined=list(pieces.joined))
    for start, end, kind in zip(pieces.starts, ends, pieces.kinds, strict=True):
        chunk = "".join(pieces.stream[start:end])
        if kind == "L":
            for pair, letter in _DIGRAPHS:
                chunk = chunk.replace(pair, letter)
        out.starts.append(len(out.stream))
        out.stream.extend(chunk)
    return out

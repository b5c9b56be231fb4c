"""The walk: a prompt's pieces against a compiled :class:`~core.wordfilter.BlockList`.

From the start of each piece, the walk follows the trie of the entries' letters through
the runs of one character of that piece's segment (``x`` * 1500 is one run), reading leet
characters as the letters they stand for. A run may be longer than the entry's (``nuuude``,
``sexx``): whether that reading stands is decided when a word is found (:func:`_stands`).

The bound: a walk reads at most ``max_runs`` runs (the longest entry's letters, plus 4:
a run split by leetspeak, ``s$s$``, may take a few more than the letters it stands for)
and keeps at most ``_MAX_STATES`` readings at once, each with at most 3 letters to try
and the words that end there (the steps count them all);
the words found from one piece (at most ``_MAX_HITS``) and the partial phrases carried
from one piece to the next (at most ``_MAX_PENDING``) are sets, so a piece costs at most
(words found there) x (1 + partial phrases ending before it); only a list built so that
more meet at one place could reach either cap, and loses completeness there, not time. A
check is thus linear in the prompt's length times the longest entry, whatever the list
(:func:`step_bound`); :class:`Meter` counts the steps and stops a walk past its deadline.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from core.wordfilter.fold import I_OR_L
from core.wordfilter.pieces import is_ordinary_as_typed

if TYPE_CHECKING:
    from core.wordfilter.blocklist import BlockList
    from core.wordfilter.pieces import Pieces

SHIFT = 21  # a trie edge's key is node << SHIFT | ord(letter)
PHRASE_SHIFT = 24  # a phrase step's key is phrase node << PHRASE_SHIFT | atom id
_MAX_STATES = 8  # readings of one walk followed at once, at most
_MAX_PENDING = 64  # partial phrases carried into one piece, at most
_MAX_HITS = 64  # words found from the start of one piece, at most
_CHECK_EVERY = 2048  # steps between two looks at the clock

_LEET: dict[str, str] = {
    "0": "o",
    "1": "il",
    "2": "z",
    "3": "e",
    "4": "a",
    "5": "s",
    "6": "gb",
    "7": "t",
    "8": "b",
    "9": "g",
    "@": "a",
    "$": "s",
    "€": "e",
    "!": "i",
    "|": "il",
    "+": "t",
    "\ue000": "o",  # ()
    "\ue001": "x",  # ><
    I_OR_L: "il",  # a capital I
}
_OPTIONS = {c: (c, *letters) for c, letters in _LEET.items()}  # as itself, or a letter


def step_bound(chars: int, bl: BlockList) -> int:
    """The most steps a reading of ``chars`` characters can take against ``bl``: from
    each piece, one walk (its runs, readings, letters and the words ending at each) and
    the phrases its words continue. Linear in ``chars`` times the longest entry."""
    walk_steps = bl.max_runs * _MAX_STATES * 3 * (1 + bl.most_ending)
    return chars * (walk_steps + _MAX_HITS * (1 + _MAX_PENDING))


class TooLong(Exception):
    """The check went past its deadline."""


class Meter:
    """Steps taken by walks, and the deadline (``time.monotonic()``) they must end by."""

    __slots__ = ("deadline", "steps")

    def __init__(self, deadline: float | None = None) -> None:
        self.steps = 0
        self.deadline = deadline

    def add(self, steps: int) -> None:
        """Count ``steps`` more; ``TooLong`` past the deadline."""
        before = self.steps
        self.steps += steps
        if (
            self.deadline is not None
            and before // _CHECK_EVERY != self.steps // _CHECK_EVERY
            and time.monotonic() > self.deadline
        ):
            raise TooLong


def walk(bl: BlockList, pieces: Pieces, meter: Meter, ordinary: dict[str, bool]) -> int | None:
    """The index of the first entry of ``bl`` found in ``pieces``, or None."""
    n = len(pieces)
    if not n:
        return None
    lay = _Layout(pieces)
    pending: dict[int, set[int]] = {}
    edges = bl.edges
    starts_here: dict[tuple[str, ...], bool] = {}  # whether an entry starts with such a run
    for i in range(n):
        options = lay.run_options[lay.run_of[pieces.starts[i]]]
        root = starts_here.get(options)
        if root is None:
            root = starts_here[options] = any(ord(letter) in edges for letter in options)
        hits = _hits_from(bl, pieces, lay, i, meter, ordinary) if root else ()
        before = pending.pop(i, ())
        if not hits:
            continue
        meter.add(len(hits) * (1 + len(before)))
        found = -1  # of the entries ending here, the first in the list
        phrase_next, phrase_entry, phrase_more = bl.phrase_next, bl.phrase_entry, bl.phrase_more
        for atom_id, last in hits:
            carried = pending.setdefault(last + 1, set()) if last >= 0 else None
            for node in (0, *before):
                following = phrase_next.get(node << PHRASE_SHIFT | atom_id)
                if following is None:
                    continue
                entry = phrase_entry[following]
                if entry >= 0 and (found < 0 or entry < found):
                    found = entry
                if carried is not None and phrase_more[following] and len(carried) < _MAX_PENDING:
                    carried.add(following)
        if found >= 0:
            return found
    return None


class _Layout:
    """Where a reading's segments, runs and piece ends are."""

    def __init__(self, pieces: Pieces) -> None:
        stream = pieces.stream
        size = len(stream)
        starts = pieces.starts
        ends = pieces.ends
        n = len(starts)
        self.segment_end = [0] * n
        end = size
        breaks = set()
        for i in range(n - 1, -1, -1):
            self.segment_end[i] = end
            if not pieces.joined[i]:
                end = starts[i]
                breaks.add(end)
        kind_at = [""] * size
        self.piece_at = [0] * size
        for i, (start, stop, kind) in enumerate(zip(starts, ends, pieces.kinds, strict=True)):
            kind_at[start:stop] = [kind] * (stop - start)
            self.piece_at[start:stop] = [i] * (stop - start)
        # Runs of one character (of one kind), never across segments.
        self.run_start: list[int] = []
        self.run_char: list[str] = []
        self.run_kind: list[str] = []
        self.run_of = [0] * size
        previous = ("", "")
        for pos, c in enumerate(stream):
            if (c, kind_at[pos]) != previous or pos in breaks:
                self.run_start.append(pos)
                self.run_char.append(c)
                self.run_kind.append(kind_at[pos])
                previous = (c, kind_at[pos])
            self.run_of[pos] = len(self.run_start) - 1
        self.run_end = [*self.run_start[1:], size]
        self.run_options = [
            _OPTIONS.get(c, (c,)) if kind == "D" or c == I_OR_L else (c,)
            for c, kind in zip(self.run_char, self.run_kind, strict=True)
        ]
        self.end_piece = {q: i for i, q in enumerate(ends)}
        # next_end[p]: the first piece end at or after p (size + 1: none).
        self.next_end = [size + 1] * (size + 2)
        following = size + 1
        ending = set(ends)
        for p in range(size, -1, -1):
            if p in ending:
                following = p
            self.next_end[p] = following


def _hits_from(
    bl: BlockList, pieces: Pieces, lay: _Layout, i: int, meter: Meter, ordinary: dict[str, bool]
) -> set[tuple[int, int]]:
    """The atoms found from the start of piece ``i``: (atom, its last piece, or -1 for a
    prefix, which ends no phrase word)."""
    hits: set[tuple[int, int]] = set()
    edges, tails, terminals, cap = bl.edges, bl.tails, bl.terminals, bl.cap
    s_eff = pieces.starts[i]
    r = lay.run_of[s_eff]
    limit = lay.segment_end[i]
    runs = len(lay.run_start)
    steps = 0
    # A reading: (node, run lengths before the last, last letter, its run length, the
    # letters read so far before the last run, whether a real letter / a digit was read).
    states = [(0, (), "", 0, "", False, False)]
    for _ in range(bl.max_runs):
        kind = lay.run_kind[r]
        run_end = lay.run_end[r]
        length = run_end - s_eff
        options = lay.run_options[r]
        digit = kind == "N" or lay.run_char[r].isdigit()
        moved: dict[tuple, tuple] = {}
        steps += len(states) * len(options)
        for node, head, last, total, decoded, lettered, digits in states:
            for letter in options:
                if letter == last:
                    child, base, new_head, new_decoded = node, total, head, decoded
                else:
                    if node >= 0 and node not in tails:
                        child = edges.get(node << SHIFT | ord(letter))
                    else:
                        child = _along_tail(tails, node, letter)
                    if child is None:
                        continue
                    base = 0
                    capped = total if total < cap else cap
                    new_head = (*head, capped) if last else ()
                    new_decoded = decoded + last * capped
                new_total = base + length
                has_letter = lettered or kind == "L" or kind == "W"
                has_digit = digits or digit
                key = (child, new_head, letter, new_total if new_total < cap else cap)
                if key not in moved:
                    moved[key] = (
                        child,
                        new_head,
                        letter,
                        new_total,
                        new_decoded,
                        has_letter,
                        has_digit,
                    )
                found = terminals.get(child)
                if found is None or (has_digit and not has_letter):
                    continue  # nothing ends here; a bare number is never read as letters
                steps += len(found)
                for atom_id, want_head, want_last, is_prefix in found:
                    if not _covers(new_head, want_head):
                        continue
                    if is_prefix:
                        if new_total < want_last:
                            continue
                        last_piece = lay.piece_at[run_end - 1]
                        count = new_total
                    else:
                        q = s_eff + max(want_last - base, 1)
                        if q > run_end or (q := lay.next_end[q]) > run_end:
                            continue
                        last_piece = lay.end_piece[q]
                        count = base + q - s_eff
                    word = new_decoded + letter * (count if count < cap else cap)
                    if len(hits) < _MAX_HITS and _stands(
                        bl, pieces, atom_id, i, last_piece, word, ordinary
                    ):
                        hits.add((atom_id, -1 if is_prefix else last_piece))
        r += 1
        if not moved or r >= runs or lay.run_start[r] >= limit:
            break
        s_eff = lay.run_start[r]
        states = list(moved.values())[:_MAX_STATES]
    meter.add(steps)
    return hits


def _along_tail(tails: dict[int, tuple[str, int]], node: int, letter: str) -> int | None:
    """The node after ``letter`` in a tail (:attr:`BlockList.tails`): from its head, or
    from a place inside it (``-(head << 16 | letters read)``, a node no dict holds)."""
    if node >= 0:
        head, read = node, 0
    else:
        head, read = -node >> 16, -node & 0xFFFF
    letters, end = tails[head]
    if letters[read] != letter:
        return None
    return end if read + 1 == len(letters) else -(head << 16 | (read + 1))


def _covers(have: tuple[int, ...], want: tuple[int, ...]) -> bool:
    """Every run read is at least as long as the entry's."""
    return len(have) == len(want) and all(h >= w for h, w in zip(have, want, strict=True))


def _stands(
    bl: BlockList,
    pieces: Pieces,
    atom_id: int,
    first: int,
    last: int,
    word: str,
    ordinary: dict[str, bool],
) -> bool:
    """Whether a word found stands, decided with the word as typed: written plainly as the
    entry, it does; an ordinary word of some language (``good``, ``год``, ``bốt``) is
    never read as another (``god``, ``bot``); otherwise what was read (``word``: letters
    through leetspeak and lookalikes, runs as long as typed) stands unless it is itself an
    ordinary word that the entry is not (``g00d`` is ``good``, not ``god``)."""
    typed = "".join(pieces.raws[first : last + 1])
    lower = typed.lower()
    plain = bl.literals[atom_id]
    if lower in plain:
        return True
    if atom_id in bl.prefix_atoms and any(lower.startswith(p) for p in plain):
        return True
    if _ordinary(typed, ordinary):
        return False
    return word in plain or not _ordinary(word, ordinary)


def _ordinary(word: str, seen: dict[str, bool]) -> bool:
    known = seen.get(word)
    if known is None:
        known = seen[word] = is_ordinary_as_typed(word)
    return known

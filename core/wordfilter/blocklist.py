"""A server's blocked entries compiled into a trie, and the linear check of a prompt."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from core.wordfilter.entries import atoms_of, plurals, runs
from core.wordfilter.fold import (
    KIND,
    LEET_CHARS,
    char_kind,
    emoji_core,
    is_pictograph,
    load_tables,
    readings,
)

_LEET: dict[str, tuple[str, ...]] = {
    "0": ("o",),
    "1": ("i", "l"),
    "3": ("e",),
    "4": ("a",),
    "5": ("s",),
    "7": ("t",),
    "@": ("a",),
    "$": ("s",),
}
_MAX_STATES = 8  # leet readings followed at once from one start, at most

_EXACT = 0  # trie node keys for the words ending there (characters are strings)
_PREFIX = 1


class BlockList:
    """A server's blocked entries, compiled for :meth:`find`: kept as given (``find``
    returns them as stored), those that can never match (punctuation only) ignored.
    Building takes about 10 ms for 500 entries; :func:`compiled` caches it by the list."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries: tuple[str, ...] = tuple(entries)
        load_tables()
        self._trie: dict = {}
        self._phrases: dict[tuple[int, ...], list] = {}  # atoms -> [entry index, longer]
        self._emoji: list[tuple[str, int]] = []
        atom_ids: dict[tuple[str, bool], int] = {}
        max_count = 2
        usable = set()

        def atom(word: str, prefix: bool) -> int:
            nonlocal max_count
            known = atom_ids.get((word, prefix))
            if known is not None:
                return known
            atom_id = atom_ids[word, prefix] = len(atom_ids)
            for form in [word] if prefix else [word, *plurals(word)]:
                key, counts = runs(form)
                max_count = max(max_count, *counts)
                node = self._trie
                for c in key:
                    node = node.setdefault(c, {})
                node.setdefault(_PREFIX if prefix else _EXACT, []).append(
                    (atom_id, counts[:-1], counts[-1])
                )
            return atom_id

        for index, entry in enumerate(self.entries):
            if not isinstance(entry, str):
                continue
            if any(is_pictograph(c) for c in unicodedata.normalize("NFKC", entry)):
                core = emoji_core(entry.rstrip("*"))
                if core:
                    self._emoji.append((core, index))
                    usable.add(index)
                continue
            forms, prefix = atoms_of(entry)
            if not forms:
                continue
            usable.add(index)
            sequences = []
            for words in forms:
                last = len(words) - 1
                sequences.append(tuple(atom(w, prefix and i == last) for i, w in enumerate(words)))
                if last:
                    sequences.append((atom("".join(words), prefix),))  # "hatespeech"
            for sequence in sequences:
                for size in range(1, len(sequence) + 1):
                    record = self._phrases.setdefault(sequence[:size], [None, False])
                    if size < len(sequence):
                        record[1] = True
                    elif record[0] is None:
                        record[0] = index
        self._cap = max_count + 1  # run lengths beyond every entry's are all alike
        self._usable = len(usable)

    def __len__(self) -> int:
        """How many entries can match."""
        return self._usable

    def __bool__(self) -> bool:
        return self._usable > 0

    def __repr__(self) -> str:
        return f"BlockList({len(self)} entries)"

    def find(self, text: str) -> str | None:
        """The first blocked entry found in ``text`` (as stored), or None.

        Emoji entries are looked for first, then words from the start of the prompt.
        """
        if self._emoji:
            core = emoji_core(text)
            for entry_core, index in self._emoji:
                if entry_core in core:
                    return self.entries[index]
        if not self._trie:
            return None
        for folded in readings(text):
            found = self._find_words(folded)
            if found is not None:
                return found
        return None

    def _find_words(self, folded: str) -> str | None:
        # Pieces: runs of letters, of digits (with @ and $), or one wide letter each. Only
        # their characters go into ``stream``, so a piece ends where the next one starts.
        stream: list[str] = []
        starts: list[int] = []
        kinds: list[str] = []
        spaced: list[bool] = []  # whether a space comes before the piece
        kind_of = KIND.get
        current = ""
        space = False
        for c in folded:
            kind = kind_of(c) or char_kind(c)
            if kind == " " or kind == "P":
                current = ""
                space = space or kind == " "
                continue
            if kind != current or kind == "W":
                starts.append(len(stream))
                kinds.append(kind)
                spaced.append(space)
                current = kind
                space = False
            stream.append(c)
        pieces = len(starts)
        if not pieces:
            return None
        size = len(stream)
        ends = [*starts[1:], size]

        # Segments: pieces joined into one word. A piece joins the one before it across
        # punctuation, or across a space when both are letters, neither longer than 3 and
        # one of them a single letter.
        segment_end = [0] * pieces
        breaks = [False] * (size + 1)
        end = size
        for i in range(pieces - 1, -1, -1):
            segment_end[i] = end
            if i and spaced[i]:
                a, b = ends[i - 1] - starts[i - 1], ends[i] - starts[i]
                joined = (
                    kinds[i - 1] != "D" and kinds[i] != "D" and a <= 3 and b <= 3 and 1 in (a, b)
                )
            else:
                joined = i > 0
            if not joined:
                end = starts[i]
                breaks[end] = True

        # Runs of one character, never across segments.
        run_start: list[int] = []
        run_char: list[str] = []
        run_of = [0] * size
        previous = ""
        for offset, c in enumerate(stream):
            if c != previous or breaks[offset]:
                run_start.append(offset)
                run_char.append(c)
                previous = c
            run_of[offset] = len(run_start) - 1
        runs = len(run_start)
        run_end = [*run_start[1:], size]
        end_piece = {q: i for i, q in enumerate(ends)}
        last_end = [0] * runs  # the last piece end inside each run (0: none)
        for q in ends:
            last_end[run_of[q - 1]] = q

        trie = self._trie
        phrases = self._phrases
        cap = self._cap
        options_of = _OPTIONS
        pending: dict[int, list[tuple[int, ...]]] = {}

        for i in range(pieces):
            before = pending.pop(i, ())
            found: list[tuple[int, int]] = []  # (atom, index of the last piece or -1)
            s_eff = starts[i]
            r = run_of[s_eff]
            limit = segment_end[i]
            states = [(trie, (), "", False, False)]
            has_letter = False
            while True:
                ch = run_char[r]
                length = run_end[r] - s_eff
                options = options_of.get(ch)
                if options is None:
                    options = ((ch, False),)
                    has_letter = True
                end_q = last_end[r]
                if end_q <= s_eff:
                    end_q = 0
                moved = []
                for node, counts, last, stretched, mapped in states:
                    for letter, leet in options:
                        if letter == last:
                            base = counts[-1]
                            child = node
                            head = counts[:-1]
                        else:
                            child = node.get(letter)
                            if child is None:
                                continue
                            base = 0
                            head = counts
                        total = base + length
                        longer = stretched or total >= 3
                        mapped_now = mapped or leet
                        moved.append(
                            (
                                child,
                                (*head, total if total < cap else cap),
                                letter,
                                longer,
                                mapped_now,
                            )
                        )
                        if mapped_now and not has_letter:
                            continue  # a bare number is never read as letters
                        exact = child.get(_EXACT)
                        if exact:
                            for atom_id, want_head, want_last in exact:
                                if head == want_head and base < want_last <= total:
                                    q = s_eff + want_last - base
                                    if q in end_piece:
                                        found.append((atom_id, end_piece[q]))
                                if end_q:
                                    at_end = base + end_q - s_eff
                                    if (
                                        (stretched or at_end >= 3)
                                        and at_end >= want_last
                                        and _covers(head, want_head)
                                    ):
                                        found.append((atom_id, end_piece[end_q]))
                        prefix = child.get(_PREFIX)
                        if prefix:
                            for atom_id, want_head, want_last in prefix:
                                if total >= want_last and (
                                    head == want_head or (longer and _covers(head, want_head))
                                ):
                                    found.append((atom_id, -1))
                if found:
                    for atom_id, last_piece in found:
                        for prior in ((), *before):
                            key = (*prior, atom_id)
                            record = phrases.get(key)
                            if record is None:
                                continue
                            if record[0] is not None:
                                return self.entries[record[0]]
                            if record[1] and last_piece >= 0:
                                pending.setdefault(last_piece + 1, []).append(key)
                    found.clear()
                if not moved:
                    break
                states = moved[:_MAX_STATES]
                r += 1
                if r >= runs or run_start[r] >= limit:
                    break
                s_eff = run_start[r]
        return None


def _covers(counts: tuple[int, ...], wanted: tuple[int, ...]) -> bool:
    return all(have >= want for have, want in zip(counts, wanted, strict=True))


_OPTIONS: dict[str, tuple[tuple[str, bool], ...]] = {
    c: ((c, False), *((letter, True) for letter in _LEET.get(c, ()))) for c in LEET_CHARS
}


@lru_cache(maxsize=256)
def compiled(entries: tuple[str, ...]) -> BlockList:
    """The :class:`BlockList` of ``entries``, cached by the list (a tuple, to be hashable)."""
    return BlockList(entries)


def find_blocked(text: str, blocked: Iterable[str]) -> str | None:
    """The first blocked entry of ``blocked`` found in ``text``, or None."""
    return compiled(tuple(blocked)).find(text)

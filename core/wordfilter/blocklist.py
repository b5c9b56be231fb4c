"""A server's blocked entries compiled into one trie of their words' letters, and the
check of a prompt against it (the walk itself is :mod:`core.wordfilter.walk`)."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterable

from core.wordfilter.entries import atoms_of, literal_words, plurals, runs
from core.wordfilter.fold import (
    capital_i,
    emoji_core,
    fold_pairs,
    is_pictograph,
    load_tables,
    pair_symbols,
)
from core.wordfilter.pieces import cut_folded, digraph_reading
from core.wordfilter.walk import PHRASE_SHIFT, SHIFT, Meter, walk

# A terminal of the trie: (atom id, the entry's run lengths before its last run, the last
# run's length, whether the atom is a prefix). Atoms are the words of the entries (a
# phrase is a sequence of atoms).
Terminal = tuple[int, tuple[int, ...], int, bool]


def _extend(key: str, counts: tuple[int, ...], word: str, form: str) -> tuple[str, tuple[int, ...]]:
    """``runs(form)`` for a plural ``form`` of ``word`` (whose runs are ``key``,
    ``counts``): ``word`` + a suffix, or ``word`` less its last letter + ``ies``."""
    if form.startswith(word):
        tail = form[len(word) :]
    else:  # y -> ies
        tail = form[len(word) - 1 :]
        if counts[-1] > 1:
            counts = (*counts[:-1], counts[-1] - 1)
        else:
            key, counts = key[:-1], counts[:-1]
    for c in tail:
        if key and key[-1] == c:
            counts = (*counts[:-1], counts[-1] + 1)
        else:
            key, counts = key + c, (*counts, 1)
    return key, counts


def _common(a: str, b: str) -> int:
    """The length of the prefix ``a`` and ``b`` share."""
    size = min(len(a), len(b))
    if a[:size] == b[:size]:
        return size
    return next(i for i in range(size) if a[i] != b[i])


class BlockList:
    """A server's blocked entries, compiled for :meth:`find`: kept as given (``find``
    returns them as stored), those that can never match (punctuation only) ignored.

    Memory and time to build are linear in the entries' total length (``nbytes`` is an
    upper estimate, used by the cache to bound what it keeps)."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries: tuple[str, ...] = tuple(entries)
        load_tables()
        self.edges: dict[int, int] = {}  # node << SHIFT | ord(letter) -> child node
        # A path no other key shares, kept whole: head node -> (its letters after the
        # first, the node they lead to). The walk reads it letter by letter (walk._along_tail).
        self.tails: dict[int, tuple[str, int]] = {}
        self.terminals: dict[int, list[Terminal]] = {}  # node -> the atoms ending there
        self.literals: list[set[str]] = []  # per atom: the words that are it, written plainly
        self.prefix_atoms: set[int] = set()
        # phrase node << PHRASE_SHIFT | atom id -> the phrase node after that word
        self.phrase_next: dict[int, int] = {}
        # Per phrase node: the index of the entry it ends (-1: none), and whether longer
        # phrases go on from it (node 0, the root, is the start of every phrase).
        self.phrase_entry: list[int] = [-1]
        self.phrase_more: list[bool] = [False]
        self.emoji: list[tuple[str, int]] = []
        self._atom_ids: dict[tuple[str, bool], int] = {}
        self._nodes = 1
        self._plain_chars = 0  # characters of every plain form kept (for the estimate)
        self._head_items = 0  # run lengths kept in the terminals (for the estimate)
        self.cap = 3  # run lengths beyond every entry's (and 2) are all alike
        self.longest = 1  # letters in the longest form of an atom
        usable = 0
        for index, entry in enumerate(self.entries):
            if isinstance(entry, str) and self._add(index, entry):
                usable += 1
        self._usable = usable
        self.max_runs = self.longest + 4  # runs one walk may read (see walk)
        self.most_ending = max(map(len, self.terminals.values()), default=0)
        self._atom_ids.clear()
        self.nbytes = self._estimate()

    def __len__(self) -> int:
        """How many entries can match."""
        return self._usable

    def __bool__(self) -> bool:
        return self._usable > 0

    def __repr__(self) -> str:
        return f"BlockList({len(self)} entries)"

    def _add(self, index: int, entry: str) -> bool:
        entry = unicodedata.normalize("NFC", entry).lower()
        if not entry.isascii() and any(
            is_pictograph(c) for c in set(unicodedata.normalize("NFKC", entry)) if not c.isalpha()
        ):
            core = emoji_core(entry.rstrip("*"))
            if core:
                self.emoji.append((core, index))
            return bool(core)
        forms, prefix = atoms_of(entry)
        literal = literal_words(entry)
        for words in forms:
            plain = literal if len(literal) == len(words) else words
            last = len(words) - 1
            sequence = [self._atom(w, prefix and i == last, plain[i]) for i, w in enumerate(words)]
            self._phrase(sequence, index)
            if last:  # "hatespeech" for "hate speech"
                self._phrase([self._atom("".join(words), prefix, "".join(plain))], index)
        return bool(forms)

    def _atom(self, word: str, prefix: bool, plain: str) -> int:
        atom_id = self._atom_ids.get((word, prefix))
        if atom_id is not None:
            if plain != word:
                known = self.literals[atom_id]
                more = set(self._plain_forms(plain, prefix)) - known
                known |= more
                self._plain_chars += sum(map(len, more))
            return atom_id
        atom_id = self._atom_ids[word, prefix] = len(self.literals)
        forms = self._plain_forms(word, prefix)
        plain_forms = {*forms, *self._plain_forms(plain, prefix)} if plain != word else {*forms}
        self.literals.append(plain_forms)
        self._plain_chars += sum(map(len, plain_forms))
        if prefix:
            self.prefix_atoms.add(atom_id)
        key, counts = runs(word)
        self._head_items += (1 + len(forms)) * len(counts)
        self.cap = max(self.cap, max(counts) + 1)
        self.longest = max(self.longest, len(word) + 3)  # with "ies"
        end = self._insert(key)
        self.terminals.setdefault(end, []).append((atom_id, counts[:-1], counts[-1], prefix))
        if prefix:
            return atom_id
        for form in forms[1:]:  # the plurals
            plural_key, plural_counts = _extend(key, counts, word, form)
            if plural_key.startswith(key):  # on from the word's own end
                node = self._insert(plural_key[len(key) :], end)
            else:
                node = self._insert(plural_key)
            self.terminals.setdefault(node, []).append(
                (atom_id, plural_counts[:-1], plural_counts[-1], prefix)
            )
        return atom_id

    def _insert(self, key: str, node: int = 0) -> int:
        """The node that ``key``'s letters lead to from ``node``, made where missing: a
        new path of several letters is one tail (:data:`tails`), split when another key
        leaves it or ends inside it."""
        edges, tails = self.edges, self.tails
        index, size = 0, len(key)
        while index < size:
            tail = tails.get(node)
            if tail is not None:
                letters, end = tail
                shared = _common(letters, key[index : index + len(letters)])
                if shared == len(letters):
                    node, index = end, index + shared
                    continue
                node = self._split(node, shared)
                index += shared
                continue
            child = edges.get(node << SHIFT | ord(key[index]))
            if child is None:
                return self._new_path(node, key[index:])
            node, index = child, index + 1
        return node

    def _new_path(self, node: int, letters: str) -> int:
        """A new path of ``letters`` from ``node``; its end."""
        head = self._nodes
        edges = self.edges
        edges[node << SHIFT | ord(letters[0])] = head
        if len(letters) == 1:
            self._nodes += 1
            return head
        end = head + 1
        self._nodes += 2
        self.tails[head] = (letters[1:], end)
        return end

    def _split(self, node: int, shared: int) -> int:
        """Make the first ``shared`` letters of ``node``'s tail real nodes (another key
        leaves the tail there, or ends there); the node after them."""
        letters, end = self.tails.pop(node)
        edges = self.edges
        for c in letters[:shared]:
            edges[node << SHIFT | ord(c)] = self._nodes
            node = self._nodes
            self._nodes += 1
        rest = letters[shared:]
        if len(rest) == 1:
            edges[node << SHIFT | ord(rest)] = end
        else:
            head = self._nodes
            self._nodes += 1
            edges[node << SHIFT | ord(rest[0])] = head
            self.tails[head] = (rest[1:], end)
        return node

    @staticmethod
    def _plain_forms(word: str, prefix: bool) -> list[str]:
        return [word] if prefix else [word, *plurals(word)]

    def _phrase(self, atoms: list[int], index: int) -> None:
        node = 0
        for atom_id in atoms:
            self.phrase_more[node] = True
            step = node << PHRASE_SHIFT | atom_id
            child = self.phrase_next.get(step)
            if child is None:
                child = self.phrase_next[step] = len(self.phrase_entry)
                self.phrase_entry.append(-1)
                self.phrase_more.append(False)
            node = child
        if self.phrase_entry[node] < 0:
            self.phrase_entry[node] = index

    def _estimate(self) -> int:
        """An upper estimate of the compiled list's memory, in bytes."""
        size = sys.getsizeof(self.edges) + 64 * len(self.edges)  # two int objects each
        size += sys.getsizeof(self.tails) + sum(
            150 + 4 * len(letters) for letters, _ in self.tails.values()
        )
        # A terminal: a list's share and a tuple, with its tuple of run lengths.
        size += sys.getsizeof(self.terminals) + 200 * len(self.terminals)
        size += 150 * sum(map(len, self.terminals.values())) + 8 * self._head_items
        # Each word kept as a plain form: a set's share, and a string of up to 4 bytes a
        # character (the widest Python keeps).
        plain = sum(len(words) for words in self.literals)
        size += sys.getsizeof(self.literals) + 220 * len(self.literals)
        size += 80 * plain + 4 * self._plain_chars
        size += sys.getsizeof(self.phrase_next) + 64 * len(self.phrase_next)
        size += sys.getsizeof(self.phrase_entry) + 32 * len(self.phrase_entry)
        size += sys.getsizeof(self.phrase_more)
        size += sys.getsizeof(self.entries) + sum(sys.getsizeof(e) for e in self.entries)
        return size + sum(sys.getsizeof(core) + 100 for core, _ in self.emoji) + 1024

    def find(self, text: str, meter: Meter | None = None) -> str | None:
        """The first blocked entry found in ``text`` (as stored), or None.

        ``meter`` counts the walk's steps and stops it past its deadline (``TooLong``).
        Emoji entries are looked for first, then words from the start of the prompt."""
        if self.emoji:
            core = emoji_core(text)
            for entry_core, index in self.emoji:
                if entry_core in core:
                    return self.entries[index]
        if not self.edges:
            return None
        meter = meter or Meter()
        ordinary: dict[str, bool] = {}
        text = pair_symbols(text)
        visual = fold_pairs(text, visual=True)
        if "I" in text:
            visual = capital_i(visual)
        readings = [visual]
        if not text.isascii():
            native = fold_pairs(text, visual=False)
            if any(a != b for (_, a), (_, b) in zip(visual, native, strict=True)):
                readings.append(native)  # read a second way only where it differs
        for pairs in readings:
            pieces = cut_folded(pairs)
            for reading in (pieces, digraph_reading(pieces)):
                if reading is not None:
                    found = walk(self, reading, meter, ordinary)
                    if found is not None:
                        return self.entries[found]
        return None


def find_blocked(text: str, blocked: Iterable[str]) -> str | None:
    """The first blocked entry of ``blocked`` found in ``text``, or None (compiled anew:
    servers' lists are compiled and kept by :class:`~core.wordfilter.CompiledLists`)."""
    return BlockList(blocked).find(text)

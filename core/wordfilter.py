"""Blocked words and phrases, matched in time linear in the prompt whatever the list holds.

A server's admins block words (``nude``), phrases (``hate speech``), prefixes (``nud*``
blocks every word starting with ``nud``) and emoji (``🍆``). :class:`BlockList` compiles
such a list once; :meth:`BlockList.find` then checks a prompt against it.

Folding (prompt and entries alike, see :func:`normalise`): NFKC (full-width, circled,
mathematical letters...), invisible characters and accents dropped, Unicode TR39
confusables mapped to the Latin letter they imitate (Cyrillic ``е``, Greek ``Ν`` and ``υ``,
``∪``..., from ``confusable-homoglyphs``), other letters transliterated to ASCII (``ɴᴜᴅᴇ``,
``ñ``, by ``anyascii``), lower case. ``ß`` stays ``ß``: ``aß`` is not ``ass``. Text outside
ASCII is also read a second way, lower-cased then transliterated without the lookalike
table (:func:`readings`), so an entry in another script matches whatever the case
(``голый`` and ``ГОЛЫЙ``). Chinese, Japanese and Korean characters stay as they are, each
one a word piece of its own, so a blocked ``裸体`` is found inside a sentence.

Matching, on whole words only (``class``, ``assassin`` and ``Scunthorpe`` never match
``ass`` or ``cunt``):

- letters spelled apart are joined back: pieces of a word split by punctuation
  (``n.u.d.e``, ``n-u-d-e``, ``nu.de``, ``hate-speech``), and across spaces when one of two
  neighbouring pieces is a single letter and neither is longer than 3 (``n u d e``,
  ``nu d e``, ``nud e``; but ``to be`` stays two words);
- stretched words: a run of 3 or more identical letters marks the word as stretched, and
  then every letter may repeat (``nuuude``, ``nnnuuddeee``); letters merely doubled do not
  count (``good`` is not ``god``, ``boots`` is not ``bot``);
- leetspeak: ``0 1 3 4 5 7 @ $`` read as ``o i/l e a s t a s`` when the word so read is a
  blocked entry and has at least one real letter (``n00d``, ``s3x``; ``4k``, ``1080p`` and
  ``35mm`` are left alone unless ``ak``... is blocked; a bare number is never read);
- plurals: ``s``, ``es`` (after s, x, z, ch, sh, o) and ``y``→``ies``;
- phrases: their words in a row, or written as one word (``hatespeech``);
- emoji entries (any entry with an emoji): found anywhere in the prompt, variation
  selectors, skin tones, joiners and spaces ignored on both sides (``🍆`` is found in
  ``a🍆️!``); letters in such an entry are matched as written, next to the emoji.

Cost: the prompt is folded once per reading and cut into pieces; from each piece a walk
follows a trie of the entries' letters (runs of one letter collapsed, so ``x`` * 1500 is one
step), ending as soon as no entry continues. A walk is at most as long as the longest entry
has letters, so a check is linear in the prompt whatever the list: about 1-3 ms for 1500
hostile characters against 500 entries (:mod:`devtools.filter_bench`); the worst case, a
100-letter entry that repeats itself (``ababab...c``) against a prompt that follows it
everywhere, is about 0.1 s. No regular expression is involved.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from anyascii import anyascii

__all__ = [
    "MAX_ENTRY_CHARS",
    "BlockList",
    "check_entry",
    "compiled",
    "find_blocked",
    "normalise",
    "readings",
]

MAX_ENTRY_CHARS = 100

# Letters that render as nothing (Unicode Default_Ignorable_Code_Point that are letters or
# symbols; marks and format characters are dropped by their category).
_IGNORABLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")
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
_LEET_CHARS = frozenset("0123456789@$")
# Dropped when emoji are compared: variation selectors, skin tones, the zero-width joiner,
# tag characters (subdivision flags).
_EMOJI_NOISE = dict.fromkeys(
    [
        *range(0xFE00, 0xFE10),
        *range(0x1F3FB, 0x1F400),
        0x200D,
        *range(0xE0020, 0xE0080),
    ]
)
_MAX_STATES = 8  # leet readings followed at once from one start, at most
_MAX_FOLD_CACHE = 1 << 16

_EXACT = 0  # trie node keys for the words ending there (characters are strings)
_PREFIX = 1


# folding


_confusables: dict[str, str] | None = None


def _confusable_letters() -> dict[str, str]:
    """Non-ASCII characters whose TR39 prototype is made of ASCII letters."""
    global _confusables
    if _confusables is None:
        from confusable_homoglyphs import utils

        table: dict[str, str] = {}
        for char, homoglyphs in utils.load("confusables.json").items():
            # A character that is not a prototype lists one homoglyph: its prototype.
            if len(char) != 1 or char.isascii() or len(homoglyphs) != 1:
                continue
            proto = "".join(
                c
                for c in unicodedata.normalize("NFD", homoglyphs[0]["c"])
                if not unicodedata.combining(c) and c not in "\u200e\u200f"
            )
            if proto and proto.isascii() and proto.isalpha():
                # Capital letters shaped like I have the prototype l.
                if proto == "l" and char.isupper():
                    proto = "i"
                table[char] = proto.lower()
        _confusables = table
    return _confusables


def _fold_char(ch: str, visual: bool = True) -> str:
    """One character after NFKC, folded (to several characters, or none).

    ``visual``: a lookalike of a Latin letter reads as that letter, in its own case
    (Cyrillic ``р`` is ``p``, Greek ``Ν`` is ``n``); otherwise letters are lower-cased first
    and transliterated (Cyrillic ``р`` is ``r``), which reads words of other scripts alike
    whatever their case.
    """
    if ch.isascii():
        return ch.lower()
    if ch in "ßẞ":
        return "ß"  # not "ss": a blocked "ass" leaves "aß" alone
    if ch in _IGNORABLE:
        return ""
    category = unicodedata.category(ch)
    major = category[0]
    if major == "M" or category in ("Cf", "Cs", "Co", "Cn"):
        return ""  # accents, zero-width and other invisible characters
    if major in "ZC":
        return " " if ch.isspace() or major == "Z" else ""
    if major == "L":
        if unicodedata.east_asian_width(ch) in "WF":
            return ch  # ideographs, kana, hangul: kept, one piece each
        if visual:
            proto = _confusable_letters().get(ch)
            if proto:
                return proto
        else:
            ch = ch.lower()
        return "".join(c for c in anyascii(ch).lower() if c.isalnum()) or ch.lower()
    if major == "N":
        return "".join(c for c in anyascii(ch).lower() if c.isalnum()) or ch
    if category in ("So", "Sm"):
        proto = _confusable_letters().get(ch)
        if proto:
            return proto  # ∪, ℮, ×...
        name = unicodedata.name(ch, "")
        if "LETTER" in name and "REGIONAL" not in name:
            letter = anyascii(ch).lower()
            if len(letter) == 1 and letter.isalpha():
                return letter  # 🅽, 🄰...
    return ch  # punctuation and emoji: kept, they separate words


_VISUAL: dict[str, str] = {chr(i): _fold_char(chr(i)) for i in range(128)}
_NATIVE: dict[str, str] = dict(_VISUAL)


def _fold(text: str, visual: bool) -> str:
    if text.isascii():
        return text.lower()  # what the loop below gives, faster
    cache = _VISUAL if visual else _NATIVE
    out = []
    for ch in unicodedata.normalize("NFKC", text):
        folded = cache.get(ch)
        if folded is None:
            folded = _fold_char(ch, visual)
            if len(cache) < _MAX_FOLD_CACHE:
                cache[ch] = folded
        out.append(folded)
    return "".join(out)


def normalise(text: str) -> str:
    """``text`` as matched: NFKC, invisible characters and accents dropped, lookalikes
    mapped to the Latin letters they imitate, other letters transliterated to ASCII, lower
    case (``ß`` kept); punctuation, spaces and emoji kept."""
    return _fold(text, visual=True)


def readings(text: str) -> list[str]:
    """The folded forms ``text`` is matched in: :func:`normalise`, and for text outside
    ASCII also its transliteration in lower case (where that differs), so that a word of
    another script is found whatever its case: ``ГОЛЫЙ`` as well as ``голый``."""
    visual = _fold(text, visual=True)
    if text.isascii():
        return [visual]
    native = _fold(text, visual=False)
    return [visual] if native == visual else [visual, native]


_KIND: dict[str, str] = {}


def _kind(c: str) -> str:
    """The kind of a folded character: " " space, "P" punctuation or symbol (separators),
    "D" digit or @ $ (leet), "W" wide letter (a piece on its own), "L" letter."""
    kind = _KIND.get(c)
    if kind is None:
        if c.isspace():
            kind = " "
        elif c in _LEET_CHARS:
            kind = "D"
        elif c.isalnum():
            kind = "W" if unicodedata.east_asian_width(c) in "WF" else "L"
        else:
            kind = "P"
        if len(_KIND) < _MAX_FOLD_CACHE:
            _KIND[c] = kind
    return kind


def _is_pictograph(ch: str) -> bool:
    return unicodedata.category(ch) == "So" and not _fold_char(ch).isalpha()


def _emoji_core(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_EMOJI_NOISE).lower()
    return "".join(text.split())


# entries


def check_entry(word: str) -> str:
    """The entry an admin asked to block, normalised: spaces collapsed, lower case.

    A trailing ``*`` (``nud*``) blocks every word that starts with what comes before it.
    Raises ``ValueError`` with a message for the admin when the entry is too long, has no
    letter or emoji, or has a ``*`` anywhere but right after its last word.
    """
    entry = " ".join(word.split()).lower()
    if not entry:
        raise ValueError("Give a word or a phrase to block.")
    if len(entry) > MAX_ENTRY_CHARS:
        raise ValueError(f"A blocked word or phrase is at most {MAX_ENTRY_CHARS} characters.")
    body = entry.removesuffix("*")
    emoji = any(_is_pictograph(c) for c in unicodedata.normalize("NFKC", body))
    if not emoji and not any(_kind(c) in "LW" for c in normalise(body.replace("*", " "))):
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


def _atoms_of(entry: str) -> tuple[list[list[str]], bool]:
    """The folded words of an entry (runs of letters and digits), in each of its
    :func:`readings`, and whether it is a prefix."""
    text = entry.strip()
    prefix = text.endswith("*")
    text = text.rstrip("*")
    forms = []
    for folded in readings(text):
        # Punctuation separates words too: "hate-speech" is the phrase "hate speech".
        words = "".join(c if _kind(c) in "LWD" else " " for c in folded).split()
        if words and words not in forms:
            forms.append(words)
    return forms, prefix


def _runs(word: str) -> tuple[str, tuple[int, ...]]:
    """``word`` with each run of a letter collapsed to one, and the runs' lengths."""
    key: list[str] = []
    counts: list[int] = []
    for c in word:
        if key and key[-1] == c:
            counts[-1] += 1
        else:
            key.append(c)
            counts.append(1)
    return "".join(key), tuple(counts)


def _plurals(word: str) -> list[str]:
    if not word[-1:].isascii() or not word[-1:].isalpha():
        return []
    forms = [word + "s"]
    if word.endswith(("s", "x", "z", "ch", "sh", "o")):
        forms.append(word + "es")
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        forms.append(word[:-1] + "ies")
    return forms


class BlockList:
    """A server's blocked entries, compiled for :meth:`find`.

    ``entries`` are kept as given (``find`` returns them as stored); ones that can never
    match (empty, punctuation only) are ignored. Building is cheap (about 10 ms for 500
    entries); :func:`compiled` caches it by the list.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries: tuple[str, ...] = tuple(entries)
        _confusable_letters()  # loaded once, here rather than in the first find
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
            for form in [word] if prefix else [word, *_plurals(word)]:
                key, counts = _runs(form)
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
            if any(_is_pictograph(c) for c in unicodedata.normalize("NFKC", entry)):
                core = _emoji_core(entry.rstrip("*"))
                if core:
                    self._emoji.append((core, index))
                    usable.add(index)
                continue
            forms, prefix = _atoms_of(entry)
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
            core = _emoji_core(text)
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
        kind_of = _KIND.get
        current = ""
        space = False
        for c in folded:
            kind = kind_of(c) or _kind(c)
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
    c: ((c, False), *((letter, True) for letter in _LEET.get(c, ()))) for c in _LEET_CHARS
}


@lru_cache(maxsize=256)
def compiled(entries: tuple[str, ...]) -> BlockList:
    """The :class:`BlockList` of ``entries``, cached by the list (a tuple, to be hashable)."""
    return BlockList(entries)


def find_blocked(text: str, blocked: Iterable[str]) -> str | None:
    """The first blocked entry of ``blocked`` found in ``text``, or None."""
    return compiled(tuple(blocked)).find(text)

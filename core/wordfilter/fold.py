"""Folding text the way the blocked-word filter reads it, prompt and entries alike.

NFKC (full-width, circled, mathematical letters...), invisible characters and accents
dropped, Unicode TR39 confusables mapped to the Latin letter they imitate (Cyrillic ``е``,
Greek ``Ν`` and ``υ``, ``∪``..., from ``confusable-homoglyphs``), other letters
transliterated to ASCII (``ɴᴜᴅᴇ``, ``ñ``, by ``anyascii``), lower case. ``ß`` stays ``ß``:
``aß`` is not ``ass``. Text outside ASCII is also read a second way, lower-cased then
transliterated without the lookalike table (:func:`readings`), so an entry in another
script matches whatever the case (``голый`` and ``ГОЛЫЙ``). Chinese, Japanese and Korean
characters stay as they are, each one a word piece of its own.
"""

from __future__ import annotations

import unicodedata

from anyascii import anyascii

__all__ = [
    "I_OR_L",
    "KIND",
    "LEET_CHARS",
    "O_PAIR",
    "THIN_SPACES",
    "X_PAIR",
    "capital_i",
    "char_kind",
    "emoji_core",
    "fold_pairs",
    "is_pictograph",
    "load_tables",
    "normalise",
    "pair_symbols",
    "readings",
]

# Letters that render as nothing (Unicode Default_Ignorable_Code_Point that are letters or
# symbols; marks and format characters are dropped by their category).
_IGNORABLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Spaces narrower than a letter: between letters they read as no space at all ("nu de").
THIN_SPACES = frozenset("\u2006\u2008\u2009\u200a\u202f\u205f")
# Characters read as letters in leetspeak (digits, symbols; "()" and "><" become O_PAIR and
# X_PAIR first, see :func:`pair_symbols`).
O_PAIR = "\ue000"
X_PAIR = "\ue001"
LEET_CHARS = frozenset("0123456789@$€!|+" + O_PAIR + X_PAIR)
# A capital I, which looks like a small l: a letter read as i or l (:func:`capital_i`).
I_OR_L = "\ue002"
# Lookalikes the TR39 table lacks or maps to a non-Latin prototype: Canadian syllabics,
# Greek, Hangul and Bopomofo letters people use as Latin ones.
_EXTRA_LOOKALIKES = {
    **dict(zip("ᑎᑌᗪᗴᔑᔕ᙭ᑭᖇᗩᗅᗷᑕᕼᒪᗰᗯᖴᘜᒍᛕᑫᐯᘔᗝᗞᕮ", "nudessxpraabchlmwfgjkqvzode", strict=True)),
    **dict(zip("χηνωκτιυαβγμορ", "xnvwktiuabyuop", strict=True)),
    **dict(zip("ㅇㅁㄴㅣㄷㄒ∩∪", "oolictnu", strict=True)),
}
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
_MAX_FOLD_CACHE = 1 << 16


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
    if ch in _IGNORABLE or ch in THIN_SPACES:
        return ""
    if 0x1F1E6 <= ord(ch) <= 0x1F1FF:
        return chr(ord("a") + ord(ch) - 0x1F1E6)  # regional indicators: 🇳🇺🇩🇪
    if visual and ch in _EXTRA_LOOKALIKES:
        return _EXTRA_LOOKALIKES[ch]
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
    known = [cache.get(ch) for ch in unicodedata.normalize("NFC", text)]
    if None not in known:
        return "".join(known)  # type: ignore[arg-type]
    return "".join(folded for _, folded in fold_pairs(text, visual))


def pair_symbols(text: str) -> str:
    """``text`` with the two-character leet letters ``()`` (o) and ``><`` (x) made one
    character each (:data:`O_PAIR`, :data:`X_PAIR`)."""
    if "()" in text:
        text = text.replace("()", O_PAIR)
    if "><" in text:
        text = text.replace("><", X_PAIR)
    return text


def capital_i(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``pairs`` (from :func:`fold_pairs`) with each capital ``I`` read as i or l
    (``kiII``, ``sIut``), as it looks."""
    return [(ch, I_OR_L if ch == "I" else folded) for ch, folded in pairs]


def fold_pairs(text: str, visual: bool = True) -> list[tuple[str, str]]:
    """Each character of ``text`` (NFC) as typed, with what it folds to (NFKC, then
    :func:`_fold_char`; spaces narrower than a letter fold to nothing)."""
    cache = _VISUAL if visual else _NATIVE
    out = []
    for ch in unicodedata.normalize("NFC", text):
        folded = cache.get(ch)
        if folded is None:
            if ch in THIN_SPACES:
                folded = ""
            elif ch in (O_PAIR, X_PAIR):
                folded = ch
            else:
                nfkc = unicodedata.normalize("NFKC", ch)
                folded = "".join(_fold_char(c, visual) for c in nfkc)
            if len(cache) < _MAX_FOLD_CACHE:
                cache[ch] = folded
        out.append((ch, folded))
    return out


def load_tables() -> None:
    """Load the lookalike table now (once), rather than in the first check."""
    _confusable_letters()


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


KIND: dict[str, str] = {I_OR_L: "L"}


def char_kind(c: str) -> str:
    """The kind of a folded character: " " space, "P" punctuation or symbol (separators),
    "D" digit or @ $ (leet), "W" wide letter (a piece on its own), "L" letter."""
    kind = KIND.get(c)
    if kind is None:
        if c.isspace():
            kind = " "
        elif c in LEET_CHARS:
            kind = "D"
        elif c.isalnum():
            kind = "W" if unicodedata.east_asian_width(c) in "WF" else "L"
        else:
            kind = "P"
        if len(KIND) < _MAX_FOLD_CACHE:
            KIND[c] = kind
    return kind


def is_pictograph(ch: str) -> bool:
    return unicodedata.category(ch) == "So" and not _fold_char(ch).isalpha()


def emoji_core(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_EMOJI_NOISE).lower()
    return "".join(text.split())

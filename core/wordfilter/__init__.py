"""Blocked words and phrases, matched in time linear in the prompt whatever the list holds.

A server's admins block words (``nude``), phrases (``hate speech``), prefixes (``nud*``
blocks every word starting with ``nud``) and emoji (``🍆``). :class:`BlockList` compiles
such a list once; :meth:`BlockList.find` then checks a prompt against it.

Prompt and entries alike are folded first (:mod:`core.textfold`: NFKC, invisible
characters, accents, TR39 lookalikes, transliteration, case), and read a second way when
they are not ASCII.

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

from core.wordfilter.blocklist import BlockList, compiled, find_blocked
from core.wordfilter.entries import MAX_ENTRY_CHARS, check_entry
from core.wordfilter.fold import normalise, readings

__all__ = [
    "MAX_ENTRY_CHARS",
    "BlockList",
    "check_entry",
    "compiled",
    "find_blocked",
    "normalise",
    "readings",
]

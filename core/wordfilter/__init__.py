"""Blocked words and phrases, read the way a person reads them, in time linear in the
prompt whatever the list holds.

A server's admins block words (``nude``), phrases (``hate speech``), prefixes (``nud*``
blocks every word starting with ``nud``) and emoji (``🍆``). :class:`BlockList` compiles
such a list once; :meth:`BlockList.find` checks a prompt against it;
:class:`WordScanner` runs the checks on threads of their own, within a time budget, with
each server's compiled list kept in a cache bounded in bytes (:class:`CompiledLists`).

How a prompt is read (prompt and entries alike are folded first: :mod:`.fold`):

- whole words only: ``class``, ``assassin``, ``Scunthorpe`` never match ``ass``;
- lookalikes from other scripts and styled letters (Cyrillic, Greek, mathematical,
  circled, small capitals, Canadian syllabics, regional indicators...), accents,
  invisible characters and spaces narrower than a letter are read through;
- letters spelled apart are joined: across punctuation (``n.u.d.e``, ``hate-speech``), at
  a camelCase hump (``NudeBeach``), across a space around a single letter (``n u d e``,
  ``nake d``, ``n aked``; but ``a hole`` stays two words) (:mod:`.pieces`);
- leetspeak: ``0 1 2 3 4 5 6 7 8 9 @ $ € ! | + () ><``, and ``ph``, ``vv``, read as the
  letters they stand for; a bare number never is, nor the digits of a model number
  (``A55``, ``RTX4090``);
- runs of a letter may be longer than the entry's (``nuuude``, ``sexx``, ``goooood``);
- plurals: ``s``, ``es`` (after s, x, z, ch, sh, o) and ``y``→``ies``;
- phrases: their words in a row, or written as one word (``hatespeech``);
- emoji entries: found anywhere, variation selectors, skin tones and joiners ignored.

All of that is for words nobody writes. The word as typed decides first
(:func:`walk._stands`): an ordinary word of some language (:mod:`.lexicon`: ``good``,
``boots``, ``год``, ``bốt``, ``kıllı``) is only ever itself, never fuzzed into a blocked
one; and what a fuzzed word reads as must not be an ordinary word either (``g00d`` reads
``good``, not ``god``), unless that is the entry itself.

Cost (:mod:`.walk`): a check is linear in the prompt's length times the longest entry,
whatever the entries; ``imaginebot bench --filter`` measures it on hostile prompts.
"""

from core.wordfilter.blocklist import BlockList, find_blocked
from core.wordfilter.cache import CompiledLists
from core.wordfilter.entries import MAX_ENTRY_CHARS, check_entry
from core.wordfilter.fold import normalise, readings
from core.wordfilter.scanner import ScanBusy, ScanTooLong, WordScanner
from core.wordfilter.walk import Meter, TooLong

__all__ = [
    "MAX_ENTRY_CHARS",
    "BlockList",
    "CompiledLists",
    "Meter",
    "ScanBusy",
    "ScanTooLong",
    "TooLong",
    "WordScanner",
    "check_entry",
    "find_blocked",
    "normalise",
    "readings",
]

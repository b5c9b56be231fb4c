"""Ordinary words: what the filter leaves as typed rather than reading it as a blocked word.

A word that people write in some language (``good``, ``boots``, ``год``, ``bốt``,
``kıllı``) is never fuzzed into a blocked one (``god``, ``bot``, ``kill``): lookalikes,
doubled letters and leetspeak are for words nobody writes. "Ordinary" means at least once
in a million words (Zipf 3) in any of the ~40 languages of ``wordfreq``'s frequency lists.

The lists hold about 1.7 million words; they are read once (about 2 s), each word kept as a
64-bit hash in one sorted array (about 11 MB), and the lists themselves let go. English's
long list (320,000 words, 2.6 MB as hashes) tells which hyphenated compounds people also
write as one word (``Gore-Tex``, ``goretex``): those are one word, not two.
"""

from __future__ import annotations

import threading
import unicodedata

import numpy as np

_lock = threading.Lock()
_indexes: dict[str, np.ndarray] = {}  # read once per process, never changed after


def _hashed(paths: list) -> np.ndarray:
    from wordfreq import read_cBpack

    parts = [np.empty(0, dtype=np.int64)]
    for path in paths:
        # Read directly: wordfreq's own loaders keep every list cached (about 200 MB).
        words = [word for bucket in read_cBpack(str(path)) for word in bucket]
        parts.append(np.fromiter(map(hash, words), dtype=np.int64, count=len(words)))
    return np.unique(np.concatenate(parts))


def load() -> None:
    """Read the indexes (once, thread-safe): the ordinary words of every language, and
    every word of English's long list (about 320,000, down to once in a billion words:
    ``goretex``, ``hatespeech``), for compounds people also write as one word."""
    if _indexes:
        return
    with _lock:
        if not _indexes:
            from wordfreq import DATA_PATH

            small = sorted(DATA_PATH.glob("small_*.msgpack.gz"))
            loaded = {
                "ordinary": _hashed(small),
                "one word": _hashed([DATA_PATH / "large_en.msgpack.gz"]),
            }
            _indexes.update(loaded)  # both at once: a reader never sees one without the other


def nbytes() -> int:
    """Memory the loaded indexes take (0 before they are loaded)."""
    return sum(int(index.nbytes) for index in _indexes.values())


def _known(index: str, word: str) -> bool:
    if not word:
        return False
    load()
    hashes = _indexes[index]
    key = hash(unicodedata.normalize("NFC", word).lower())
    at = int(np.searchsorted(hashes, key))
    return at < hashes.size and int(hashes[at]) == key


def is_ordinary(word: str) -> bool:
    """Whether ``word`` (any case) is an ordinary word of some language, as typed."""
    return _known("ordinary", word)


def is_one_word(word: str) -> bool:
    """Whether ``word`` (letters joined from a hyphenated compound, any case) is written
    as one word in English, however rarely (``goretex``, ``hatespeech``, ``bloodbath``)."""
    return _known("one word", word)

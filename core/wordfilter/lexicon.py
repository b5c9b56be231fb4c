"""Ordinary words: what the filter leaves as typed rather than reading it as a blocked word.

A word that people write in some language (``good``, ``boots``, ``год``, ``bốt``,
``kıllı``) is never fuzzed into a blocked one (``god``, ``bot``, ``kill``): lookalikes,
doubled letters and leetspeak are for words nobody writes. "Ordinary" means at least once
in a million words (Zipf 3) in any of the ~40 languages of ``wordfreq``'s frequency lists.

The lists hold about 1.7 million words; they are read once (about 2 s), each word kept as a
64-bit hash in one sorted array (about 11 MB), and the lists themselves let go.
"""

from __future__ import annotations

import threading
import unicodedata

import numpy as np

_lock = threading.Lock()
_hashes: np.ndarray | None = None


def _load() -> np.ndarray:
    from wordfreq import DATA_PATH, read_cBpack

    parts = []
    for path in sorted(DATA_PATH.glob("small_*.msgpack.gz")):
        # Read directly: wordfreq's own loaders keep every list cached (about 200 MB).
        words = [word for bucket in read_cBpack(str(path)) for word in bucket]
        parts.append(np.fromiter(map(hash, words), dtype=np.int64, count=len(words)))
    return np.unique(np.concatenate(parts))


def load() -> np.ndarray:
    """The sorted hashes of every ordinary word, read on first use (thread-safe)."""
    global _hashes
    if _hashes is None:
        with _lock:
            if _hashes is None:
                _hashes = _load()
    return _hashes


def nbytes() -> int:
    """Memory the loaded index takes (0 before it is loaded)."""
    return 0 if _hashes is None else int(_hashes.nbytes)


def is_ordinary(word: str) -> bool:
    """Whether ``word`` (any case) is an ordinary word of some language, as typed."""
    if not word:
        return False
    hashes = load()
    key = hash(unicodedata.normalize("NFC", word).lower())
    at = int(np.searchsorted(hashes, key))
    return at < hashes.size and int(hashes[at]) == key

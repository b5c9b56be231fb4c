"""Word scans off the event loop, on threads of their own, each within a time budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor

from core.wordfilter import lexicon
from core.wordfilter.cache import DEFAULT_BUDGET, CompiledLists
from core.wordfilter.fold import load_tables
from core.wordfilter.walk import Meter, TooLong

__all__ = ["ScanTooLong", "WordScanner"]


class ScanTooLong(Exception):
    """A scan went past its time budget: the text is refused rather than a thread held."""


class WordScanner:
    """Checks texts against servers' blocked lists on a small executor of its own (never
    the default pool, which delivery uses), each scan within ``budget`` seconds, compiled
    lists kept within ``cache_bytes``."""

    def __init__(
        self, threads: int = 2, budget: float = 1.0, cache_bytes: int = DEFAULT_BUDGET
    ) -> None:
        self.budget = budget
        self.lists = CompiledLists(cache_bytes)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="wordscan")
        self._ready: asyncio.Future[None] | None = None

    def _warm_up(self) -> None:
        load_tables()
        lexicon.load()

    def start(self) -> None:
        """Begin loading the lookalike tables and the ordinary words (once, about 2 s, on
        the scanner's own threads); scans wait for it (:meth:`ready`)."""
        if self._ready is None:
            self._ready = asyncio.wrap_future(self._pool.submit(self._warm_up))

    async def ready(self) -> None:
        """Wait until the tables are loaded (started now if :meth:`start` was not called)."""
        self.start()
        assert self._ready is not None
        await asyncio.shield(self._ready)

    def close(self) -> None:
        """Stop the threads (a scan in progress ends within its budget)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def find(
        self, key: Hashable, entries: tuple[str, ...], texts: Sequence[str]
    ) -> tuple[int, str] | None:
        """The first of ``texts`` holding an entry of ``entries`` (server ``key``'s list),
        as (its index, the entry as stored), or None; ``ScanTooLong`` past the budget."""
        if not entries or not any(texts):
            return None
        await self.ready()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._scan, key, entries, tuple(texts))

    def _scan(
        self, key: Hashable, entries: tuple[str, ...], texts: tuple[str, ...]
    ) -> tuple[int, str] | None:
        meter = Meter(time.monotonic() + self.budget)
        blocklist = self.lists.get(key, entries)
        try:
            for index, text in enumerate(texts):
                found = blocklist.find(text, meter) if text else None
                if found is not None:
                    return index, found
        except TooLong:
            raise ScanTooLong from None
        return None

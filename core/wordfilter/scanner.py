"""Word scans off the event loop, on threads of their own, each within a time budget."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from core.wordfilter import lexicon
from core.wordfilter.cache import DEFAULT_BUDGET, CompiledLists
from core.wordfilter.fold import load_tables
from core.wordfilter.walk import Meter, TooLong

__all__ = ["ScanBusy", "ScanTooLong", "WordScanner"]

logger = logging.getLogger(__name__)


class ScanTooLong(Exception):
    """A scan went past its time budget: the text is refused rather than a thread held.
    ``index``: which of the texts it was reading."""

    def __init__(self, index: int = 0) -> None:
        super().__init__(index)
        self.index = index


def load_all() -> None:
    """Load the lookalike tables and the ordinary words (once per process, about 2 s)."""
    load_tables()
    lexicon.load()


class ScanBusy(Exception):
    """Too many scans of one server wait already: the text is refused, not queued."""


@dataclass(eq=False)
class _Scan:
    key: Hashable
    entries: tuple[str, ...]
    texts: tuple[str, ...]
    done: asyncio.Future[tuple[int, str] | None]


class WordScanner:
    """Checks texts against servers' blocked lists on a small executor of its own (never
    the default pool, which delivery uses), each scan within ``budget`` seconds, compiled
    lists kept within ``cache_bytes``.

    Servers take turns: at most one scan of a server runs at a time, the next thread goes
    to the server after it in turn, and at most ``per_server`` scans of one server wait
    (past that, ``ScanBusy``). So one server's admin, whatever their list, holds at most
    one thread for at most ``budget`` at a time, and every other server keeps its turn."""

    def __init__(
        self,
        threads: int = 2,
        budget: float = 0.25,
        cache_bytes: int = DEFAULT_BUDGET,
        per_server: int = 32,
        load: Callable[[], None] | None = None,
    ) -> None:
        self.budget = budget
        self._load = load or load_all  # the tables every scan needs (tests give theirs)
        self.threads = threads
        self.per_server = per_server
        self.lists = CompiledLists(cache_bytes)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="wordscan")
        self._ready: asyncio.Future[None] | None = None
        self._waiting: OrderedDict[Hashable, deque[_Scan]] = OrderedDict()  # in turn
        self._running: set[Hashable] = set()

    def start(self) -> None:
        """Begin loading the lookalike tables and the ordinary words (once, about 2 s, on
        the scanner's own threads); scans wait for it (:meth:`ready`)."""
        failed = (
            self._ready is not None
            and self._ready.done()
            and (self._ready.cancelled() or self._ready.exception() is not None)
        )
        if self._ready is None or failed:
            self._ready = asyncio.wrap_future(self._pool.submit(self._load))

    async def ready(self) -> None:
        """Wait until the tables are loaded (started now if :meth:`start` was not called,
        or again if loading them failed)."""
        self.start()
        assert self._ready is not None
        try:
            await asyncio.shield(self._ready)
        except Exception:
            logger.exception("the blocked-word tables could not be loaded")
            raise

    def close(self) -> None:
        """Stop the threads (a scan in progress ends within its budget)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def find(
        self, key: Hashable, entries: tuple[str, ...], texts: Sequence[str]
    ) -> tuple[int, str] | None:
        """The first of ``texts`` holding an entry of ``entries`` (server ``key``'s list),
        as (its index, the entry as stored), or None; ``ScanTooLong`` past the budget,
        ``ScanBusy`` when too many of the server's scans wait already."""
        if not entries or not any(texts):
            return None
        await self.ready()
        waiting = self._waiting.setdefault(key, deque())
        if len(waiting) >= self.per_server:
            raise ScanBusy
        scan = _Scan(key, entries, tuple(texts), asyncio.get_running_loop().create_future())
        waiting.append(scan)
        self._dispatch()
        return await scan.done

    def _dispatch(self) -> None:
        """Hand waiting scans to free threads, a server at a time, in turn."""
        for key in list(self._waiting):
            if len(self._running) >= self.threads:
                return
            if key in self._running:
                continue
            waiting = self._waiting.pop(key)
            scan = waiting.popleft()
            if waiting:
                self._waiting[key] = waiting  # to the back of the turn
            if scan.done.done():  # its caller went away
                continue
            self._running.add(key)
            ran = asyncio.wrap_future(self._pool.submit(self._scan, scan))
            ran.add_done_callback(lambda ran, scan=scan: self._finished(scan, ran))

    def _finished(self, scan: _Scan, ran: asyncio.Future) -> None:
        self._running.discard(scan.key)
        if not scan.done.done():
            if ran.cancelled():
                scan.done.cancel()
            elif ran.exception() is not None:
                scan.done.set_exception(ran.exception())
            else:
                scan.done.set_result(ran.result())
        self._dispatch()

    def _scan(self, scan: _Scan) -> tuple[int, str] | None:
        meter = Meter(time.monotonic() + self.budget)
        blocklist = self.lists.get(scan.key, scan.entries)
        for index, text in enumerate(scan.texts):
            try:
                found = blocklist.find(text, meter) if text else None
            except TooLong:
                raise ScanTooLong(index) from None
            if found is not None:
                return index, found
        return None

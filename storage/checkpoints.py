"""WAL checkpoints off the bot's connection.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold (1,000
pages): that commit copies the WAL's pages into the database file before it returns. On a
big database, whose index pages are scattered, that is the slowest moment of admission
(``imaginebot bench --scale``: p99 12.7 ms with it, 4.0 ms without, at 300,000 jobs). So
the bot's connection never checkpoints (``wal_autocheckpoint=0``) and this thread, with a
connection of its own, checkpoints (PASSIVE: it waits for no reader or writer) whenever
the WAL has grown past the same threshold; the last connection's close checkpoints the
rest, as SQLite does.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

CHECKPOINT_BYTES = 4 * 1024 * 1024  # SQLite's own threshold: 1,000 pages of 4 KiB
CHECK_SECONDS = 1.0  # how often the WAL's size is looked at (a stat, no query)


class Checkpointer:
    """A thread that checkpoints the database at ``path`` when its WAL is past ``limit``."""

    def __init__(self, path: Path, *, limit: int = CHECKPOINT_BYTES) -> None:
        self.path = path
        self.wal = path.with_name(path.name + "-wal")
        self.limit = limit
        self.checkpoints = 0  # that copied pages, for tests and logs
        self._last = (0, 0)
        self.passed = threading.Event()  # set after each look (a test's wait, not a clock)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Look at the WAL now (a test's, or after a big write)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        with contextlib.closing(sqlite3.connect(self.path, check_same_thread=False)) as db:
            db.execute("PRAGMA busy_timeout=0")
            while not self._stop.is_set():
                self._wake.wait(CHECK_SECONDS)
                self._wake.clear()
                if self._stop.is_set():
                    break
                with contextlib.suppress(FileNotFoundError):
                    if self.wal.stat().st_size >= self.limit:
                        self._checkpoint(db)
                self.passed.set()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # a locked moment: the next look tries again
            logger.debug("checkpoint skipped: %s", exc)
            return
        if not busy and copied > 0 and (frames, copied) != self._last:
            self.checkpoints += 1
        self._last = (frames, copied)

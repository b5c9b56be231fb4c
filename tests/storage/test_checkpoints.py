"""The WAL is checkpointed on a thread of its own, never inside the bot's commits (the
slowest moment of admission on a big database otherwise)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from storage.checkpoints import CHECKPOINT_BYTES
from storage.db import Storage


async def test_the_wal_is_checkpointed_off_the_writing_connection(tmp_path) -> None:
    async with Storage(tmp_path) as storage:
        rows = await storage.db.execute_fetchall("PRAGMA wal_autocheckpoint")
        assert rows[0][0] == 0  # no commit copies the WAL into the database
        checkpointer = storage.checkpointer
        assert checkpointer is not None
        await storage.db.execute("CREATE TABLE filler (data BLOB)")
        await storage.db.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 4096,)] * 1200)
        await storage.db.commit()
        assert checkpointer.wal.stat().st_size >= CHECKPOINT_BYTES
        for _ in range(20):  # each look is an event the thread sets, not a clock
            if checkpointer.checkpoints:
                break
            checkpointer.passed.clear()
            checkpointer.wake()
            assert await asyncio.to_thread(checkpointer.passed.wait, 30)
        assert checkpointer.checkpoints >= 1
        with contextlib.closing(sqlite3.connect(storage.db_path)) as db:
            busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and frames == copied  # every page already in the database file
    assert storage.checkpointer is None  # stopped with the storage

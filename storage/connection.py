"""The SQLite connection (aiosqlite, WAL), the numbered migrations, and the helpers the
table modules share."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Self

import aiosqlite

from core.model import EVERYWHERE, Scope
from storage.checkpoints import Checkpointer

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
FOREIGN_KEYS_OFF = "-- foreign-keys: off"  # the first line of a migration that rebuilds a table
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
INCREMENTAL_VACUUM = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
VACUUM_AT_OPEN_BYTES = 128 * 1024 * 1024  # an older database this small is rebuilt at open


def _in_scope(scope: Scope) -> tuple[str, tuple[Any, ...]]:
    """The SQL condition on ``guild_id`` for ``scope``, and its arguments."""
    if scope is EVERYWHERE:
        return "1", ()
    return "guild_id IS ?", (scope,)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass
class Migration:
    """One numbered ``.sql`` file."""

    version: int
    name: str
    sql: str = field(repr=False)


def bundled_migrations() -> list[Migration]:
    """The migrations shipped in ``storage/migrations``, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


class Database:
    """The open connection and DATA_DIR; the table modules add their queries to it."""

    def __init__(self, data_dir: Path | str, *, clock: Clock = utc_now) -> None:
        self.data_dir = Path(data_dir)
        self.db_path = self.data_dir / "imaginebot.sqlite3"
        self.clock = clock
        self._db: aiosqlite.Connection | None = None
        self.checkpointer: Checkpointer | None = None  # the WAL's (storage.checkpoints)
        # Users whose row is known to exist (rows are never deleted): their jobs skip the
        # insert of the user row, one round trip less on the admission path.
        self._known_users: set[int] = set()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        if self._db is None:
            raise RuntimeError("storage is not open")
        return self._db

    async def open(self) -> None:
        """Open the database (WAL mode) and apply pending migrations.

        DATA_DIR and its folders are the bot's alone (0700), the database 0600: prompts,
        images and moderation logs are nobody else's business on a shared machine.
        """
        await asyncio.to_thread(self._prepare_files)
        self._db = await aiosqlite.connect(self.db_path)
        # Free pages go back to the file system, a bounded number at a time (the retention
        # sweep's PRAGMA incremental_vacuum): set before a new database's first page.
        await self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.execute("PRAGMA busy_timeout=5000")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints on a thread of their own (storage.checkpoints), never inside a commit.
        await self._db.execute("PRAGMA wal_autocheckpoint=0")
        await self.migrate()
        await self._incremental_vacuum_mode()
        self.checkpointer = Checkpointer(self.db_path)
        self.checkpointer.start()

    async def _incremental_vacuum_mode(self) -> None:
        """A database from before incremental auto-vacuum is rebuilt in that mode once
        (a VACUUM: about 1 s for 100 MB) when it is small enough; a larger one is left as
        it is (its free pages are reused by new rows), with how to do it offline."""
        async with self.db.execute("PRAGMA auto_vacuum") as cursor:
            row = await cursor.fetchone()
        if row is None or row[0] == INCREMENTAL_VACUUM:
            return
        size = await asyncio.to_thread(lambda: self.db_path.stat().st_size)
        if size > VACUUM_AT_OPEN_BYTES:
            logger.info(
                "the database (%d MB) keeps its free pages; to give them back to the file "
                "system, stop the bot and run: sqlite3 %s 'PRAGMA auto_vacuum=INCREMENTAL; "
                "VACUUM' (it needs as much free disk as the database takes)",
                size // 1_000_000,
                self.db_path,
            )
            return
        await self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        await self.db.execute("VACUUM")
        logger.info(
            "the database (%d MB) now gives free pages back (incremental auto-vacuum)",
            size // 1_000_000,
        )

    def _prepare_files(self) -> None:
        images = self.data_dir / "images"
        images.mkdir(mode=0o700, parents=True, exist_ok=True)
        for directory in (self.data_dir, images):
            directory.chmod(0o700)  # also when an older version created it open
        if not self.db_path.exists():
            self.db_path.touch(mode=0o600)
        for path in self.data_dir.glob(self.db_path.name + "*"):
            path.chmod(0o600)

    async def close(self) -> None:
        """Close the database (its last close checkpoints what is left in the WAL)."""
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.stop)
            self.checkpointer = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def schema_version(self) -> int:
        """``PRAGMA user_version``: the number of the last migration applied."""
        async with self.db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0])

    async def _check_foreign_keys(self) -> None:
        async with self.db.execute("PRAGMA foreign_key_check") as cursor:
            broken = await cursor.fetchall()
        if broken:
            raise RuntimeError(f"a migration broke foreign keys: {broken[:5]}")

    async def migrate(self, migrations: Iterable[Migration] | None = None) -> list[int]:
        """Apply the migrations newer than ``user_version``; returns the versions applied."""
        applied = []
        current = await self.schema_version()
        for migration in migrations if migrations is not None else bundled_migrations():
            if migration.version <= current:
                continue
            # One transaction per file: a failing migration leaves the schema as it was.
            # A file that rebuilds a table says so on its first line: foreign keys are
            # off around its transaction (a pragma a transaction cannot change), and
            # checked before its commit.
            rebuild = migration.sql.startswith(FOREIGN_KEYS_OFF)
            script = f"BEGIN;\n{migration.sql}\nPRAGMA user_version = {migration.version};"
            if rebuild:
                await self.db.execute("PRAGMA foreign_keys=OFF")
            try:
                await self.db.executescript(script)
                if rebuild:
                    await self._check_foreign_keys()
                await self.db.commit()
            except Exception:
                await self.db.rollback()
                raise
            finally:
                if rebuild:
                    await self.db.execute("PRAGMA foreign_keys=ON")
            logger.info("applied migration %s", migration.name)
            applied.append(migration.version)
            current = migration.version
        return applied

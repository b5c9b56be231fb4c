"""The connection (storage/connection.py): migrations applied once each, atomically, and
DATA_DIR private to the bot; on a real SQLite file in a temp dir."""

from __future__ import annotations

import sqlite3

import pytest

from storage.connection import Migration, bundled_migrations
from storage.db import Storage
from tests.storage.helpers import mode


def test_bundled_migrations_are_numbered_one_to_n():
    migrations = bundled_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.name.startswith(f"{m.version:04d}_") and m.sql.strip() for m in migrations)


async def test_migrations_apply_from_empty_and_rerun_is_a_no_op(tmp_path):
    async with Storage(tmp_path) as storage:
        assert await storage.schema_version() == len(bundled_migrations())
        assert await storage.migrate() == []
    async with Storage(tmp_path) as storage:  # reopening re-runs nothing
        assert await storage.migrate() == []
    with sqlite3.connect(tmp_path / "imaginebot.sqlite3") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"users", "jobs", "images"} <= tables
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_failing_migration_changes_nothing(tmp_path):
    async with Storage(tmp_path) as storage:
        version = await storage.schema_version()
        broken = Migration(version + 1, "broken", "CREATE TABLE extra (x);\nTHIS IS NOT SQL;")
        with pytest.raises(sqlite3.OperationalError):
            await storage.migrate([broken])
        assert await storage.schema_version() == version
        async with storage.db.execute("SELECT name FROM sqlite_master WHERE name='extra'") as c:
            assert await c.fetchone() is None


async def test_a_closed_storage_says_so(tmp_path):
    storage = Storage(tmp_path)
    with pytest.raises(RuntimeError, match="not open"):
        _ = storage.db
    async with storage:
        assert await storage.schema_version() > 0
    with pytest.raises(RuntimeError, match="not open"):
        _ = storage.db


# --- files: the bot's alone ---


async def test_data_dir_images_and_database_are_private(tmp_path, open_umask):
    data = tmp_path / "data"
    async with Storage(data) as storage:
        assert mode(data) == 0o700
        assert mode(data / "images") == 0o700
        assert mode(storage.db_path) == 0o600
        await storage.set_user_settings(42, {"steps": 5})  # writes the WAL
        database_files = list(data.glob("imaginebot.sqlite3*"))
        assert len(database_files) >= 2  # the database and its WAL
        for file in database_files:
            assert mode(file) == 0o600, file.name


async def test_an_open_data_dir_from_an_older_version_is_closed(tmp_path, open_umask):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True, mode=0o777)
    async with Storage(data) as storage:
        pass
    storage.db_path.chmod(0o666)
    data.chmod(0o777)
    (data / "images").chmod(0o755)
    async with Storage(data) as storage:
        assert mode(data) == 0o700 and mode(data / "images") == 0o700
        assert mode(storage.db_path) == 0o600

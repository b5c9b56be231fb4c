"""Image files and their rows (storage/images.py): paths from ids, atomic private writes,
purging; on a real SQLite file in a temp dir."""

from __future__ import annotations

import sqlite3

import pytest

from core.model import EVERYWHERE, ImageRow
from storage.db import Storage
from tests.storage.helpers import mode, new_job


async def test_image_rows_and_paths_come_from_ids(tmp_path):
    async with Storage(tmp_path) as storage:
        job = await storage.create_job(new_job(prompt="../../etc/passwd"))
        path = storage.image_path(job.id, 3)
        assert path == tmp_path / "images" / str(job.id) / "3.png"
        storage.write_file(path, b"png")
        rows = [ImageRow(job.id, i, 192, 128, 7 + i - 1) for i in (1, 2)]
        await storage.add_images(rows)
        await storage.add_images(rows[:1])  # a retried job replaces its rows
        assert await storage.images(job.id) == rows
        assert storage.image_file(rows[0]).parent == path.parent
        assert path.read_bytes() == b"png"
        assert not list(path.parent.glob("*.tmp"))


def test_every_file_of_a_job_lives_in_its_folder(tmp_path):
    storage = Storage(tmp_path)  # paths need no open database
    folder = tmp_path / "images" / "12"
    assert storage.job_dir(12) == folder
    assert storage.source_path(12) == folder / "source.png"
    assert storage.grid_path(12) == folder / "grid.png"
    assert storage.thumbnail_path(12) == folder / "thumb.webp"
    assert storage.thumbnail_path(12, "blur") == folder / "thumb-blur.webp"
    assert storage.thumbnail_path(12, "block") == folder / "thumb-block.webp"
    with pytest.raises(ValueError, match="censored"):
        storage.thumbnail_path(12, "pixelate")


async def test_nsfw_flags_come_back_in_order_by_job(tmp_path):
    async with Storage(tmp_path) as storage:
        first, second, bare = [await storage.create_job(new_job()) for _ in range(3)]
        await storage.add_images(
            [
                ImageRow(first.id, 2, 64, 64, 2, nsfw=True),
                ImageRow(first.id, 1, 64, 64, 1, nsfw=False),
                ImageRow(second.id, 1, 64, 64, 3, nsfw=True),
            ]
        )
        flags = await storage.nsfw_flags([first.id, second.id, bare.id])
        assert flags == {first.id: [False, True], second.id: [True]}
        assert await storage.nsfw_flags([]) == {}
        assert [row.nsfw for row in await storage.images(first.id)] == [False, True]


async def test_purging_a_job_removes_its_files_and_rows_and_marks_it(tmp_path):
    async with Storage(tmp_path) as storage:
        job, other = await storage.create_job(new_job()), await storage.create_job(new_job())
        for owner in (job, other):
            storage.write_file(storage.image_path(owner.id, 1), b"png")
            await storage.add_images([ImageRow(owner.id, 1, 64, 64, 7)])
        storage.write_file(storage.grid_path(job.id), b"grid")
        assert await storage.purge_job(job.id) == 2
        assert not storage.job_dir(job.id).exists()
        assert await storage.images(job.id) == []
        assert (await storage.get_job(job.id, scope=EVERYWHERE)).purged_at is not None
        assert await storage.purge_job(job.id) == 0  # again: nothing left to remove
        assert storage.image_path(other.id, 1).read_bytes() == b"png"  # others untouched
        assert len(await storage.images(other.id)) == 1
        assert (await storage.get_job(other.id, scope=EVERYWHERE)).purged_at is None


async def test_a_misuse_error_saving_image_rows_is_tried_once_more(tmp_path, caplog):
    # SQLite's spurious "API misuse" cannot be caused on purpose and the storage offers no
    # seam for it: the test swaps the aiosqlite connection's executemany (not product code).
    async with Storage(tmp_path) as storage:
        job = await storage.create_job(new_job())
        rows = [ImageRow(job.id, 1, 64, 64, 7)]
        executemany, tries = storage.db.executemany, []

        async def flaky(sql, values):  # type: ignore[no-untyped-def]
            tries.append(sql)
            if len(tries) == 1:
                raise sqlite3.InterfaceError("bad parameter or other API misuse")
            return await executemany(sql, values)

        storage.db.executemany = flaky  # type: ignore[method-assign]
        await storage.add_images(rows)
        assert len(tries) == 2 and await storage.images(job.id) == rows
        assert "trying again" in caplog.text

        async def broken(sql, values):  # type: ignore[no-untyped-def]
            tries.append(sql)
            raise sqlite3.InterfaceError("again")

        tries.clear()
        storage.db.executemany = broken  # type: ignore[method-assign]
        with pytest.raises(sqlite3.InterfaceError):
            await storage.add_images(rows)  # twice is an error
        assert len(tries) == 2


async def test_image_files_are_private(tmp_path, open_umask):
    async with Storage(tmp_path / "data") as storage:
        job = await storage.create_job(new_job())
        path = storage.image_path(job.id, 1)
        storage.write_file(path, b"png")
        assert mode(path) == 0o600 and mode(path.parent) == 0o700
        storage.write_file(path, b"again")  # rewriting keeps it private
        assert mode(path) == 0o600 and path.read_bytes() == b"again"

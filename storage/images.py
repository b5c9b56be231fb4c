"""Image files under DATA_DIR/images/<job id>/ and their rows: the one module that knows
where a job's files are (their names come from ids, never from user text or a stored
path)."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from core.model import ImageRow
from storage.connection import Database, _iso

logger = logging.getLogger(__name__)


class ImageFiles(Database):
    """Where a job's images live, writing them, their rows, and removing them."""

    def job_dir(self, job_id: int) -> Path:
        """``DATA_DIR/images/<job id>``; names come from ids, never from user text."""
        return self.data_dir / "images" / str(int(job_id))

    def image_path(self, job_id: int, index: int) -> Path:
        """Where image ``index`` (1-based) of a job lives."""
        return self.job_dir(job_id) / f"{int(index)}.png"

    def source_path(self, job_id: int) -> Path:
        """Where an image-prompt job keeps the image it starts from (as it was fitted)."""
        return self.job_dir(job_id) / "source.png"

    def clip_path(self, job_id: int) -> Path:
        """Where a clip job keeps its clip (MP4; its first frame is image 1)."""
        return self.job_dir(job_id) / "clip.mp4"

    def reference_path(self, job_id: int, slot: int) -> Path:
        """Where a job keeps its reference ``slot`` (1-based: --sref, --oref, /blend)."""
        return self.job_dir(job_id) / f"ref-{int(slot)}.png"

    def thumbnail_path(self, job_id: int, censored: str = "") -> Path:
        """Where a job's thumbnail for /history lives (made once, WebP); ``censored``
        (``blur`` or ``block``): the one shown outside NSFW channels, flagged images
        blurred or grey."""
        if censored not in ("", "blur", "block"):
            raise ValueError(f"no thumbnail censored by {censored!r}")
        return self.job_dir(job_id) / (f"thumb-{censored}.webp" if censored else "thumb.webp")

    def grid_path(self, job_id: int) -> Path:
        """Where a job's full-size grid lives."""
        return self.job_dir(job_id) / "grid.png"

    def write_file(self, path: Path, data: bytes) -> None:
        """Write ``data`` atomically (temp file, then rename); blocking, run it off the loop."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = path.with_suffix(path.suffix + ".tmp")
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        temp.replace(path)

    async def add_images(self, rows: Iterable[ImageRow]) -> None:
        """Record image files (replacing rows of a retried job). Once, in about 500 jobs of
        the benchmark, SQLite answered this insert with "bad parameter or other API
        misuse" for no reason found (the same rows went in when tried again): it is
        tried once more, with a warning, before the job fails."""
        values = [(r.job_id, r.index, r.width, r.height, r.seed, int(r.nsfw)) for r in rows]
        sql = (
            "INSERT OR REPLACE INTO images (job_id, idx, width, height, seed, nsfw)"
            " VALUES (?, ?, ?, ?, ?, ?)"
        )
        try:
            await self.db.executemany(sql, values)
        except sqlite3.InterfaceError as exc:
            logger.warning(
                "saving the image rows of job %s failed (%s); trying again",
                values[0][0] if values else "?",
                exc,
            )
            # INSERT OR REPLACE: rows a failed try may have written are written again.
            await self.db.executemany(sql, values)
        await self.db.commit()

    async def images(self, job_id: int) -> list[ImageRow]:
        """A job's images in order."""
        async with self.db.execute(
            "SELECT job_id, idx, width, height, seed, nsfw FROM images"
            " WHERE job_id = ? ORDER BY idx",
            (job_id,),
        ) as cursor:
            return [ImageRow(*row[:5], bool(row[5])) for row in await cursor.fetchall()]

    async def nsfw_flags(self, job_ids: Iterable[int]) -> dict[int, list[bool]]:
        """The NSFW flags of the jobs' images in order, by job id (none for a job
        without images)."""
        ids = [int(job_id) for job_id in job_ids]
        flags: dict[int, list[bool]] = {}
        if not ids:
            return flags
        async with self.db.execute(
            f"SELECT job_id, nsfw FROM images WHERE job_id IN ({', '.join('?' * len(ids))})"
            " ORDER BY job_id, idx",
            ids,
        ) as cursor:
            for job_id, nsfw in await cursor.fetchall():
                flags.setdefault(job_id, []).append(bool(nsfw))
        return flags

    def image_file(self, row: ImageRow) -> Path:
        """Where an image row's file lives."""
        return self.image_path(row.job_id, row.index)

    async def purge_job(self, job_id: int) -> int:
        """Delete a job's image files and rows and mark it purged (its disk bytes leave
        the total); the files removed."""
        removed = await asyncio.to_thread(self._remove_files, job_id)
        await self.db.execute("DELETE FROM images WHERE job_id = ?", (job_id,))
        await self.db.execute(
            "UPDATE jobs SET purged_at = ?, disk_bytes = 0 WHERE id = ?",
            (_iso(self.clock()), job_id),
        )
        await self.db.commit()
        return removed

    def _remove_files(self, job_id: int) -> int:
        removed = 0
        directory = self.job_dir(job_id)
        if directory.is_dir():
            for path in directory.iterdir():
                path.unlink()
                removed += 1
            directory.rmdir()
        return removed

"""SQLite storage (aiosqlite) and the image files under DATA_DIR."""

from storage.db import ImageRow, Job, NewJob, Storage, utc_now

__all__ = ["ImageRow", "Job", "NewJob", "Storage", "utc_now"]

"""SQLite storage (aiosqlite) and the image files under DATA_DIR; rows come back as
``core.model`` values."""

from storage.db import Storage, utc_now

__all__ = ["Storage", "utc_now"]

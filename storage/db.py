"""``Storage``: the database and the image files, one object for the rest of the bot.

Each table family has its module (``jobs``, ``members``, ``moderation``, ``images``,
``descriptions``, ``retention``);
``connection`` opens the database and applies the migrations.
"""

from __future__ import annotations

from storage.connection import Clock, Migration, bundled_migrations, utc_now
from storage.descriptions import DescriptionRows
from storage.jobs import JobRows
from storage.members import MemberRows
from storage.moderation import ModerationRows
from storage.retention import RetentionRows
from storage.stats import StatsRows

__all__ = ["Clock", "Migration", "Storage", "bundled_migrations", "utc_now"]


class Storage(JobRows, MemberRows, ModerationRows, DescriptionRows, StatsRows, RetentionRows):
    """The database and the image files. Open with ``async with Storage(data_dir)``."""

"""Every statement a member-facing path runs reads jobs, images and the audit log through
an index: no full scan, and no sort of a member's or a server's whole history. The paths
run through the real services over a database filled as the scale benchmark fills it
(``devtools.scale_fill``, analysed), with SQLite's trace of what they ran; each
statement's plan is then asked of SQLite (``EXPLAIN QUERY PLAN``)."""

from __future__ import annotations

import contextlib
import math
import re
import sqlite3

from core.errors import UserError
from core.model import Requester
from devtools.scale_fill import Community, fill, guild_id
from storage.db import Storage

JOBS = 3000
BIG_TABLES = {"jobs", "images", "audit"}
# A table as a statement names it (FROM/JOIN/UPDATE jobs j): its alias -> the table.
_NAMED = re.compile(r"\b(?:FROM|JOIN|UPDATE)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", re.IGNORECASE)


def problems(db: sqlite3.Connection, sql: str) -> list[str]:
    """What is wrong with a statement's plan: a scan of a big table, or a sort of rows
    read from one (a page sorted after reading them all)."""
    tables = {}
    for table, alias in _NAMED.findall(sql):
        tables[table] = table
        if alias and alias.upper() not in {"WHERE", "SET", "ORDER", "GROUP", "LIMIT", "ON"}:
            tables[alias] = table
    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)]
    found = []
    for line in plan:
        scanned = re.match(r"SCAN (\w+)", line)
        if scanned and tables.get(scanned.group(1)) in BIG_TABLES:
            found.append(f"full scan: {line}")
    sorts = any("TEMP B-TREE" in line for line in plan)
    if sorts and not sql.lstrip().upper().startswith("WITH") and set(tables.values()) & BIG_TABLES:
        found.append(f"sorted after reading: {plan}")
    return found


async def test_member_facing_paths_read_through_indexes(make_services, tmp_path) -> None:
    data = tmp_path / "data"
    async with Storage(data):
        pass
    fill(data / "imaginebot.sqlite3", JOBS)
    service = await make_services(started=False, max_queued_per_user=100, daily_quota=1000)
    storage = service.storage
    community = Community(JOBS)
    member = Requester(community.member_id(1), guild_id(1), channel_id=7)
    admin = Requester(1, guild_id(1), channel_id=7, is_admin=True)
    rows = await storage.db.execute_fetchall(
        "SELECT user_id, jobs FROM history_counts WHERE guild_key = ? ORDER BY jobs DESC",
        (guild_id(1),),
    )
    reader = Requester(rows[0][0], guild_id(1), channel_id=7)
    done = await storage.db.execute_fetchall(
        "SELECT id FROM jobs WHERE status = 'done' AND kind = 'imagine' AND guild_id = ?"
        " ORDER BY id DESC LIMIT 1",
        (guild_id(1),),
    )
    seen: list[str] = []
    await storage.db.set_trace_callback(seen.append)
    try:
        await service.jobs.imagine(member, "a lighthouse at dusk --ar 3:2")
        await service.users.history(reader, 1)
        await service.users.history(reader, math.ceil(rows[0][1] / 10))
        await service.users.info(member)
        await service.users.info(admin)
        await service.users.update_settings(member, steps=20)
        await service.moderation.queue(admin)
        _, _, pages = await service.moderation.audit(admin)
        await service.moderation.audit(admin, pages)
        await service.jobs.get_job(done[0][0], member)
        with contextlib.suppress(UserError, OSError):  # the fill writes no image files
            await service.jobs.press(member, "u", done[0][0], 1)
        await service.admission.check_not_banned(member)
    finally:
        await storage.db.set_trace_callback(None)
    statements = [sql for sql in seen if not sql.lstrip().startswith("--")]
    reads = [sql for sql in statements if re.match(r"\s*(SELECT|WITH|UPDATE|DELETE)", sql, re.I)]
    assert len(reads) >= 12, statements  # the paths ran (a trace that caught nothing fails)
    with contextlib.closing(sqlite3.connect(data / "imaginebot.sqlite3")) as db:
        found = {sql[:160]: problems(db, sql) for sql in reads}
    assert not {sql: wrong for sql, wrong in found.items() if wrong}


def test_the_check_catches_a_scan_and_a_sort_of_a_history(tmp_path) -> None:
    """The check itself: a page read by OFFSET after a sort, and a count over all jobs,
    as the paths read them before the paging indexes, are caught."""
    with contextlib.closing(sqlite3.connect(tmp_path / "x.sqlite3")) as db:
        db.executescript(
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY, user_id, guild_id, created_at, status);"
            "CREATE INDEX jobs_quota ON jobs (user_id, guild_id, created_at);"
        )
        sorted_page = (
            "SELECT id FROM jobs WHERE user_id = 1 AND guild_id IS 2 ORDER BY id DESC"
            " LIMIT 10 OFFSET 500"
        )
        assert problems(db, sorted_page)
        assert problems(db, "SELECT COUNT(*) FROM jobs j WHERE j.status = 'queued'")
        assert not problems(db, "SELECT id FROM jobs WHERE user_id = 1 AND guild_id IS 2")

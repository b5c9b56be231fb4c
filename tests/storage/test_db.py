"""Storage on a real SQLite file in a temp dir."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime

import pytest

from core.model import ALL_SERVERS, EVERYWHERE, ImageRow, JobKind, JobParams, JobStatus, NewJob
from storage.db import Migration, Storage, bundled_migrations


def new_job(**overrides) -> NewJob:
    fields = {
        "kind": "imagine",
        "user_id": 42,
        "prompt": "a fox",
        "negative": "people",
        "seed": 7,
        "params": JobParams(width=192, height=128, steps=4, guidance=7.0),
        "guild_id": 1,
        "channel_id": 2,
    }
    fields.update(overrides)
    return NewJob(**fields)


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


async def test_job_lifecycle_rows(tmp_path):
    moments = iter(datetime(2026, 11, 21, 10, 0, second, tzinfo=UTC) for second in range(10))
    async with Storage(tmp_path, clock=lambda: next(moments)) as storage:
        job = await storage.create_job(new_job())
        assert (job.status, job.kind, job.user_id, job.seed) == ("queued", "imagine", 42, 7)
        assert job.params == JobParams(width=192, height=128, steps=4, guidance=7.0)
        assert type(job.kind) is JobKind and type(job.status) is JobStatus  # not bare str
        assert job.created_at.startswith("2026-11-21T10:00:00")
        await storage.mark_running(job.id)
        running = await storage.get_job(job.id, scope=1)
        assert (running.status, running.attempts) == ("running", 1)
        assert running.started_at is not None
        await storage.set_message(job.id, 2, 999)
        await storage.finish_job(job.id, "done")
        done = await storage.get_job(job.id, scope=1)
        assert (done.status, done.message_id, done.error) == ("done", 999, None)
        assert done.finished_at > done.started_at > done.created_at
        child = await storage.create_job(
            new_job(kind="upscale", parent_id=job.id, parent_index=2, user_id=43)
        )
        assert (child.parent_id, child.parent_index, child.user_id) == (job.id, 2, 43)
        await storage.finish_job(child.id, "failed", "boom")
        assert (await storage.get_job(child.id, scope=1)).error == "boom"
        assert [j.id for j in await storage.jobs_with_status("done", "failed", scope=1)] == [
            job.id,
            child.id,
        ]
        assert await storage.get_job(12345, scope=EVERYWHERE) is None
        with pytest.raises(ValueError, match="final status"):
            await storage.finish_job(job.id, "running")


async def test_constraints_reject_bad_rows(tmp_path):
    async with Storage(tmp_path) as storage:
        with pytest.raises(sqlite3.IntegrityError):
            await storage.create_job(new_job(kind="painting"))
        with pytest.raises(sqlite3.IntegrityError):
            await storage.create_job(new_job(parent_id=777))  # no such parent


async def test_image_rows_and_paths_come_from_ids(tmp_path):
    async with Storage(tmp_path) as storage:
        job = await storage.create_job(new_job(prompt="../../etc/passwd"))
        path = storage.image_path(job.id, 3)
        assert path == tmp_path / "images" / str(job.id) / "3.png"
        storage.write_file(path, b"png")
        rows = [
            ImageRow(job.id, i, f"images/{job.id}/{i}.png", 192, 128, 7 + i - 1) for i in (1, 2)
        ]
        await storage.add_images(rows)
        await storage.add_images(rows[:1])  # a retried job replaces its rows
        assert await storage.images(job.id) == rows
        assert storage.absolute(rows[0].path).parent == path.parent
        assert path.read_bytes() == b"png"
        assert not list(path.parent.glob("*.tmp"))


async def test_a_misuse_error_saving_image_rows_is_tried_once_more(tmp_path, caplog):
    async with Storage(tmp_path) as storage:
        job = await storage.create_job(new_job())
        rows = [ImageRow(job.id, 1, f"images/{job.id}/1.png", 64, 64, 7)]
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


async def test_undelivered_results_are_found_until_marked_delivered(tmp_path):
    async with Storage(tmp_path) as storage:
        done = await storage.create_job(new_job())
        no_channel = await storage.create_job(new_job(channel_id=None))
        queued = await storage.create_job(new_job())
        for job in (done, no_channel):
            await storage.finish_job(job.id, "done")
        assert [j.id for j in await storage.undelivered_jobs()] == [done.id]
        await storage.mark_delivered(done.id, 2, 555)
        row = await storage.get_job(done.id, scope=1)
        assert (row.message_id, row.delivered_at is not None) == (555, True)
        assert await storage.undelivered_jobs() == []
        assert (await storage.get_job(queued.id, scope=1)).delivered_at is None


async def test_the_delivery_migration_counts_older_results_as_delivered(tmp_path):
    first = bundled_migrations()[0]
    # A database made before the delivery column existed, with a finished job in it.
    with sqlite3.connect(tmp_path / "imaginebot.sqlite3") as db:
        db.executescript(first.sql)
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO users (id, first_seen) VALUES (1, 'x')")
        db.execute(
            "INSERT INTO jobs (kind, user_id, channel_id, prompt, seed, status, created_at,"
            " finished_at) VALUES ('imagine', 1, 2, 'old', 1, 'done', 'a', 'b')"
        )
    async with Storage(tmp_path) as storage:  # applies the migrations after the first
        assert await storage.schema_version() == len(bundled_migrations())
        assert await storage.undelivered_jobs() == []
        async with storage.db.execute("SELECT delivered_at FROM jobs") as cursor:
            assert await cursor.fetchall() == [("b",)]


async def test_the_paint_kinds_migration_rebuilds_jobs_and_keeps_every_row(tmp_path):
    """0007 rebuilds the jobs table (a CHECK grows): every row and image stays, ids are
    never reused, foreign keys hold again after it."""
    before = [m for m in bundled_migrations() if m.version < 7]
    with sqlite3.connect(tmp_path / "imaginebot.sqlite3") as db:
        db.execute("PRAGMA foreign_keys=ON")
        for migration in before:
            db.executescript(migration.sql)
        db.execute(f"PRAGMA user_version = {before[-1].version}")
        db.execute("INSERT INTO users (id, first_seen) VALUES (1, 'x')")
        for number in range(1, 6):
            db.execute(
                "INSERT INTO jobs (kind, parent_id, user_id, guild_id, prompt, seed, status,"
                " created_at, delivered_at) VALUES (?, ?, 1, 9, ?, ?, 'done', 'a', 'b')",
                (
                    "imagine" if number == 1 else "variation",
                    None if number == 1 else 1,
                    f"job {number}",
                    number,
                ),
            )
            db.execute(
                "INSERT INTO images (job_id, idx, path, width, height, seed, nsfw)"
                " VALUES (?, 1, ?, 64, 64, ?, 0)",
                (number, f"images/{number}/1.png", number),
            )
        db.execute("DELETE FROM images WHERE job_id = 5")
        db.execute("DELETE FROM jobs WHERE id = 5")  # the newest id must not come back
        jobs_before = db.execute("SELECT * FROM jobs ORDER BY id").fetchall()
        images_before = db.execute("SELECT * FROM images ORDER BY job_id").fetchall()
    async with Storage(tmp_path) as storage:
        assert await storage.schema_version() == len(bundled_migrations())
        assert list(await storage.db.execute_fetchall("SELECT * FROM jobs ORDER BY id")) == [
            tuple(row) for row in jobs_before
        ]
        images = await storage.db.execute_fetchall("SELECT * FROM images ORDER BY job_id")
        assert [tuple(row) for row in images] == images_before and len(images) == 4
        zoom = await storage.create_job(new_job(kind=JobKind.ZOOM))
        assert zoom.kind is JobKind.ZOOM and zoom.id == 6
        region = await storage.create_job(new_job(kind=JobKind.REGION))  # 0008's kind
        assert region.kind is JobKind.REGION and region.id == 7
        with pytest.raises(sqlite3.IntegrityError):  # foreign keys are on again
            await storage.db.execute(
                "INSERT INTO images (job_id, idx, path, width, height, seed)"
                " VALUES (99, 1, 'p', 1, 1, 1)"
            )
        indexes = await storage.db.execute_fetchall(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'jobs'"
            " AND name NOT LIKE 'sqlite_%'"
        )
        assert sorted(row[0] for row in indexes) == [
            "jobs_parent",
            "jobs_quota",
            "jobs_status",
            "jobs_undelivered",
            "jobs_user_created",
        ]


# --- every server an island: queries take a scope ---


async def test_jobs_are_found_only_in_their_own_scope(tmp_path):
    async with Storage(tmp_path) as storage:
        in_one = await storage.create_job(new_job(guild_id=1))
        in_two = await storage.create_job(new_job(guild_id=2, user_id=43))
        no_server = await storage.create_job(new_job(guild_id=None, channel_id=None))
        for job, scope in ((in_one, 1), (in_two, 2), (no_server, None)):
            assert (await storage.get_job(job.id, scope=scope)).id == job.id
            assert (await storage.get_job(job.id, scope=EVERYWHERE)).id == job.id
        assert await storage.get_job(in_one.id, scope=2) is None
        assert await storage.get_job(in_one.id, scope=None) is None
        assert await storage.get_job(in_two.id, scope=1) is None
        assert await storage.get_job(no_server.id, scope=1) is None


async def test_jobs_with_status_by_scope_and_user(tmp_path):
    async with Storage(tmp_path) as storage:
        a1 = await storage.create_job(new_job(guild_id=1))
        a2 = await storage.create_job(new_job(guild_id=1, user_id=43))
        b1 = await storage.create_job(new_job(guild_id=2))
        b2 = await storage.create_job(new_job(guild_id=2))
        await storage.mark_running(b2.id)
        done = await storage.create_job(new_job(guild_id=1))
        await storage.finish_job(done.id, "done")

        def ids(jobs):
            return [job.id for job in jobs]

        active = ("queued", "running")
        assert ids(await storage.jobs_with_status(*active, scope=1)) == [a1.id, a2.id]
        assert ids(await storage.jobs_with_status(*active, scope=2)) == [b1.id, b2.id]
        assert ids(await storage.jobs_with_status(*active, scope=3)) == []
        assert ids(await storage.jobs_with_status(*active, scope=None)) == []
        assert ids(await storage.jobs_with_status(*active, scope=EVERYWHERE)) == [
            a1.id,
            a2.id,
            b1.id,
            b2.id,
        ]
        assert ids(await storage.jobs_with_status(*active, scope=1, user_id=42)) == [a1.id]
        assert ids(await storage.jobs_with_status(*active, scope=EVERYWHERE, user_id=42)) == [
            a1.id,
            b1.id,
            b2.id,
        ]
        assert ids(await storage.jobs_with_status("running", scope=2, user_id=42)) == [b2.id]
        assert ids(await storage.jobs_with_status("done", scope=EVERYWHERE)) == [done.id]


async def test_quota_jobs_are_counted_per_server_or_everywhere(tmp_path):
    moments = iter(datetime(2026, 11, 21, 10, 0, second, tzinfo=UTC) for second in range(60))
    async with Storage(tmp_path, clock=lambda: next(moments)) as storage:
        yesterday = datetime(2026, 11, 20, tzinfo=UTC)
        today = datetime(2026, 11, 21, tzinfo=UTC)
        for guild in (1, 1, 2, None):
            await storage.create_job(new_job(guild_id=guild))
        await storage.create_job(new_job(guild_id=2, user_id=43))  # someone else's
        failed = await storage.create_job(new_job(guild_id=2))
        await storage.mark_running(failed.id)
        await storage.finish_job(failed.id, "failed", "the bot's fault")

        def counted(user: int, guild: int | None, since: datetime):
            return storage.admission_counts(user, guild, since)

        assert (await counted(42, 1, today)).used_here == 2
        assert (await counted(42, 2, today)).used_here == 1
        assert (await counted(42, None, today)).used_here == 1
        assert (await counted(42, 3, today)).used_here == 0
        assert (await counted(42, 3, today)).used_everywhere == 4
        assert (await counted(43, 1, today)).used_everywhere == 1
        assert (await counted(42, 1, yesterday)).used_everywhere == 4
        tomorrow = datetime(2026, 11, 22, tzinfo=UTC)
        assert (await counted(42, 1, tomorrow)).used_everywhere == 0


async def test_admission_counts_for_many_users_in_one_read(tmp_path):
    async with Storage(tmp_path) as storage:
        today = datetime(2000, 1, 1, tzinfo=UTC)
        for user, guild in ((42, 1), (42, 1), (42, 2), (43, 1)):
            await storage.create_job(new_job(user_id=user, guild_id=guild))
        await storage.set_user_settings(43, {"steps": 5})
        await storage.ban(2, 42, "spam", banned_by=7)
        await storage.ban(ALL_SERVERS, 44, "abuse", banned_by=7)
        await storage.set_quota(1, 43, 9)
        who = [(42, 1), (42, 2), (43, 1), (44, None), (45, 1)]
        many = await storage.admission_counts_many(who, today)
        assert many == [await storage.admission_counts(u, g, today) for u, g in who]
        assert [(c.used_here, c.used_everywhere, c.active_mine) for c in many] == [
            (2, 3, 3),
            (1, 3, 3),
            (1, 1, 1),
            (0, 0, 0),
            (0, 0, 0),
        ]
        assert {c.queued_all for c in many} == {4}
        assert [c.ban for c in many] == [None, ("spam", False), None, ("abuse", True), None]
        assert [c.override for c in many] == [None, None, 9, None, None]
        assert [c.settings for c in many] == [{}, {}, {"steps": 5}, {}, {}]
        assert await storage.admission_counts_many([], today) == []


async def test_jobs_created_together_keep_their_order_or_none_is_written(tmp_path):
    async with Storage(tmp_path) as storage:
        news = [new_job(user_id=user, prompt=f"job {n}") for n, user in enumerate((5, 6, 5, 7))]
        jobs = await storage.create_jobs(news)
        assert [(job.prompt, job.user_id) for job in jobs] == [(n.prompt, n.user_id) for n in news]
        assert [job.id for job in jobs] == sorted(job.id for job in jobs)
        assert [await storage.get_job(job.id, scope=EVERYWHERE) for job in jobs] == jobs

        # A write that fails half-way (the users row went in, the jobs did not) leaves
        # nothing behind, and the connection goes on working.
        real = storage.db.execute_fetchall

        async def failing(sql, parameters=None):
            raise sqlite3.OperationalError("disk I/O error")

        storage.db.execute_fetchall = failing  # type: ignore[method-assign]
        with pytest.raises(sqlite3.OperationalError):
            await storage.create_jobs([new_job(user_id=8), new_job(user_id=9)])
        storage.db.execute_fetchall = real  # type: ignore[method-assign]
        async with storage.db.execute("SELECT id FROM users ORDER BY id") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == [5, 6, 7]
        assert await storage.count_jobs() == 4
        (again,) = await storage.create_jobs([new_job(user_id=8)])
        assert again.user_id == 8 and await storage.count_jobs() == 5


async def test_a_ban_in_all_servers_holds_everywhere_and_outlives_a_local_unban(tmp_path):
    async with Storage(tmp_path) as storage:
        await storage.ban(1, 42, "spam", banned_by=7)
        assert await storage.ban_reason(1, 42) == ("spam", False)
        assert await storage.ban_reason(2, 42) is None
        assert await storage.ban_reason(None, 42) is None
        assert await storage.ban_reason(1, 43) is None

        await storage.ban(ALL_SERVERS, 42, "abuse", banned_by=900)
        for guild in (1, 2, 12345, None):  # also a server with no rows at all
            assert await storage.ban_reason(guild, 42) == ("abuse", True)
        assert await storage.ban_reason(1, 43) is None

        assert await storage.unban(1, 42)
        assert await storage.ban_reason(1, 42) == ("abuse", True)
        assert not await storage.unban(2, 42)
        assert await storage.unban(ALL_SERVERS, 42)
        for guild in (1, 2, None):
            assert await storage.ban_reason(guild, 42) is None


async def test_blocked_words_are_counted_per_server(tmp_path):
    async with Storage(tmp_path) as storage:
        for word in ("gore", "nude", "gore"):
            await storage.add_blocked_word(1, word, added_by=7)
        await storage.add_blocked_word(2, "fox", added_by=8)
        assert await storage.count_blocked_words(1) == 2
        assert await storage.count_blocked_words(2) == 1
        assert await storage.count_blocked_words(3) == 0
        await storage.remove_blocked_word(1, "gore")
        assert await storage.count_blocked_words(1) == 1


# --- files: the bot's alone ---


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The most permissive umask: any file made without an explicit mode is world-writable."""
    old = os.umask(0)
    yield
    os.umask(old)


async def test_data_dir_images_and_database_are_private(tmp_path, open_umask):
    data = tmp_path / "data"
    async with Storage(data) as storage:
        assert mode(data) == 0o700
        assert mode(data / "images") == 0o700
        assert mode(storage.db_path) == 0o600
        job = await storage.create_job(new_job())  # writes the WAL
        path = storage.image_path(job.id, 1)
        storage.write_file(path, b"png")
        assert mode(path) == 0o600 and mode(path.parent) == 0o700
        storage.write_file(path, b"again")  # rewriting keeps it private
        assert mode(path) == 0o600 and path.read_bytes() == b"again"
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

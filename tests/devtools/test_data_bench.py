"""``imaginebot bench --scale``: the fill, the report's figures, and ``--json`` that prints
JSON only."""

from __future__ import annotations

import json
import sqlite3

from devtools.bench_report import format_data_report
from devtools.data_bench import run_data_bench
from devtools.scale_fill import SERVERS, fill, guild_id
from storage.db import Storage
from tests.processes import run_python

OPS = {
    "admission",
    "history_first",
    "history_far",
    "admin_queue",
    "admin_audit",
    "admin_audit_far",
    "info",
}


async def test_the_fill_spreads_jobs_as_a_community_does_and_grows_by_adding(tmp_path) -> None:
    async with Storage(tmp_path):
        pass
    path = tmp_path / "imaginebot.sqlite3"
    assert fill(path, 4000) == 4000
    assert fill(path, 6000) == 2000 and fill(path, 6000) == 0
    db = sqlite3.connect(path)
    kinds = dict(db.execute("SELECT kind, COUNT(*) FROM jobs GROUP BY kind").fetchall())
    statuses = dict(db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
    assert set(kinds) >= {"imagine", "upscale", "variation", "reroll", "zoom", "pan", "animate"}
    assert set(statuses) == {"done", "failed", "cancelled"}
    big = db.execute("SELECT COUNT(*) FROM jobs WHERE guild_id = ?", (guild_id(1),)).fetchone()[0]
    servers = db.execute("SELECT COUNT(DISTINCT guild_id) FROM jobs").fetchone()[0]
    assert 6000 / 10 < big < 6000 / 3 and 100 < servers <= SERVERS  # a long tail of servers
    # The numbers the paging triggers keep, written by the fill with the triggers off,
    # agree with the rows, and the triggers are back.
    counts = db.execute(
        "SELECT COUNT(*) FROM history_counts h WHERE jobs != (SELECT COUNT(*) FROM jobs j"
        " WHERE j.user_id = h.user_id AND IFNULL(j.guild_id, 0) = h.guild_key)"
    ).fetchone()[0]
    top = db.execute("SELECT MAX(seq) = COUNT(*) FROM jobs GROUP BY user_id, guild_id").fetchall()
    triggers = db.execute("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'trigger'").fetchone()
    assert counts == 0 and all(row[0] for row in top) and triggers[0] >= 2
    assert db.execute("SELECT COUNT(*) FROM audit WHERE seq IS NULL").fetchone()[0] == 0
    words = db.execute("SELECT COUNT(*) FROM blocked_words WHERE guild_id = ?", (guild_id(1),))
    assert words.fetchone()[0] == 500  # the biggest server blocks as many as it may
    db.close()


async def test_the_report_gives_each_size_the_growth_and_a_restart(sd_model) -> None:
    report = await run_data_bench(sizes=(1000, 2000), calls=20, queues=(50, 200), model=sd_model)
    assert [entry["jobs"] for entry in report["sizes"]] == [1000, 2000]
    for entry in report["sizes"]:
        assert set(entry["p99_ms"]) == OPS and set(entry["p50_ms"]) == OPS
        assert all(entry["p99_ms"][op] >= entry["p50_ms"][op] > 0 for op in OPS)
    assert set(report["growth"]) == OPS and all(value > 0 for value in report["growth"].values())
    assert [entry["queued"] for entry in report["queue"]] == [50, 200]
    assert all(entry["held"] == entry["queued"] for entry in report["queue"])  # each call
    first, resumed = report["restart_first_job_s"], report["restart_all_resumed_s"]
    assert first > 0 and resumed > 0 and report["rss_mb"] > 0
    assert report["db_bytes_per_million_jobs"] > 0 and len(report["targets"]) == 4
    assert "admission" in format_data_report(report)


def test_json_prints_json_only_whatever_else_writes_to_stdout(tmp_path) -> None:
    """What Ray's processes and log lines do: Python's print, a write to file descriptor 1
    and a child process's output go to stderr while the report holds stdout."""
    code = (
        "import os, subprocess, sys\n"
        "from bot.json_stdout import emit, json_only\n"
        "with json_only():\n"
        "    print('a log line')\n"
        "    os.write(1, b'a native write\\n')\n"
        "    subprocess.run([sys.executable, '-c', 'print(\"a child process\")'], check=True)\n"
        "    emit('{\"ok\": true}')\n"
        "print('after: stdout again')\n"
    )
    done = run_python(["-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    report, after = done.stdout.split("}\n")
    assert json.loads(report + "}") == {"ok": True} and after == "after: stdout again\n"
    for noise in ("a log line", "a native write", "a child process"):
        assert noise in done.stderr

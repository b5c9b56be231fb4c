"""A big community's database, made fast for ``imaginebot bench --scale``: bulk inserts
(plain ``sqlite3``, one transaction a chunk) into a database the product's migrations
made, with a realistic spread.

- 1,000 servers whose sizes follow a long tail (server 1, the biggest, has about a sixth
  of all jobs); members in the same proportion as a Discord community's (one for every
  ten jobs), their activity a long tail too, each at home in one server (nine jobs in ten
  there);
- every kind of job (grids, upscales, variations, rerolls, zooms, pans, blends, clips) in
  every final status, created over the last 90 days (about 1 in 90 of them today), with
  their image rows, measured GPU seconds, fast and relax;
- the moderation side: audit rows (one for every 50 jobs), bans, blocked words (500 in the
  biggest server, a few in one server in ten).

Growing is adding: ``fill(path, 100_000)`` on a database of 10,000 jobs adds 90,000, so
one run measures 10k, 100k and 1M on one file.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.model import ALL_SERVERS, JobParams
from core.recipes import (
    Animate,
    Blend,
    ImageRef,
    Imagine,
    Pan,
    Reroll,
    Upscale,
    Variation,
    ZoomOut,
    to_json,
)

SERVERS = 1000
BIG_GUILD = 1 << 22  # server 1 (ids spread across shards as Discord's are)
JOBS_PER_MEMBER = 10
DAYS = 90
CHUNK = 20_000
WORDS = [
    "fox",
    "owl",
    "lighthouse",
    "castle",
    "forest",
    "river",
    "portrait",
    "neon",
    "city",
    "dragon",
    "garden",
    "robot",
    "watercolor",
    "oil",
    "painting",
    "cinematic",
    "misty",
    "sunset",
    "mountain",
    "cat",
    "astronaut",
    "ocean",
    "ancient",
    "temple",
    "cyberpunk",
    "street",
    "market",
    "flowers",
    "knight",
    "desert",
    "storm",
]
# (kind, weight, images): a grid has four images, an upscale one, a clip one (its frame).
KINDS = (
    ("imagine", 52, 4),
    ("upscale", 24, 1),
    ("variation", 10, 4),
    ("reroll", 5, 4),
    ("zoom", 3, 4),
    ("pan", 3, 4),
    ("blend", 1, 4),
    ("animate", 2, 1),
)
STATUSES = (("done", 93), ("failed", 3), ("cancelled", 4))
AUDIT_ACTIONS = ("ban", "unban", "purge", "quota", "blocked_prompt", "block_word", "cancel")


def guild_id(server: int) -> int:
    """Server ``server``'s id (1-based): spread over the shards as Discord's snowflakes."""
    return BIG_GUILD * server + server


def _long_tail(count: int, power: float) -> list[float]:
    """Cumulative weights of ``count`` ranks, rank r weighing 1 / r**power."""
    return list(itertools.accumulate(1.0 / (rank**power) for rank in range(1, count + 1)))


class Community:
    """Who makes the jobs: servers and members, long tails both; the same for a given
    number of jobs and seed (members join as the community grows)."""

    def __init__(self, jobs: int, seed: int = 0) -> None:
        self.random = random.Random(seed)
        self.members = max(10, jobs // JOBS_PER_MEMBER)
        self._servers = _long_tail(SERVERS, 1.0)
        self._activity = _long_tail(self.members, 0.8)
        home = random.Random(seed + 1)
        self.home = [self._pick(self._servers, home) for _ in range(self.members)]

    @staticmethod
    def _pick(cumulative: list[float], rng: random.Random) -> int:
        return bisect_left(cumulative, rng.random() * cumulative[-1]) + 1

    def member_id(self, rank: int) -> int:
        """The Discord id of the member of this activity rank (1: the most active)."""
        return 10**15 + rank

    def job_author(self) -> tuple[int, int]:
        """(member rank, server) of a new job: a member by activity, mostly at home."""
        rank = self._pick(self._activity, self.random)
        server = self.home[rank - 1]
        if self.random.random() < 0.1:
            server = self._pick(self._servers, self.random)
        return rank, server


def _recipe(kind: str, rng: random.Random, below: int) -> str:
    source = ImageRef(rng.randint(1, max(1, below)), rng.randint(1, 4))
    made = {
        "imagine": lambda: Imagine(),
        "upscale": lambda: Upscale(source, (1024, 1024)),
        "variation": lambda: Variation(source, rng.choice(("strong", "subtle"))),
        "reroll": lambda: Reroll(Imagine()),
        "zoom": lambda: ZoomOut(source, 2.0),
        "pan": lambda: Pan(source, rng.choice(("left", "right", "up", "down")), (1024, 1024)),
        "blend": lambda: Blend(2),
        "animate": lambda: Animate(source, rng.choice(("low", "high"))),
    }[kind]()
    return to_json(made)


_PARAMS = {
    "grid": JobParams(1024, 1024, 30, 5.0).to_json(),
    "upscale": JobParams(2048, 2048, 30, 5.0, num_images=1).to_json(),
    "animate": JobParams(832, 480, 8, 1.0, num_images=1, frames=121, fps=24).to_json(),
}


def _count(db: sqlite3.Connection, table: str) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def fill(path: Path, jobs: int, *, seed: int = 0, now: datetime | None = None) -> int:
    """Grow the database at ``path`` (migrated by ``storage``) to ``jobs`` jobs; returns
    how many were added."""
    now = now or datetime.now(UTC)
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA synchronous=OFF")
        have = _count(db, "jobs")
        if have >= jobs:
            return 0
        community = Community(jobs, seed)
        rng = random.Random(seed + have)
        _members(db, community, now)
        _moderation(db, community, rng, now, first=have == 0)
        kinds = list(itertools.accumulate(weight for _, weight, _ in KINDS))
        statuses = list(itertools.accumulate(weight for _, weight in STATUSES))
        # The numbering triggers (storage's 0016) row by row would take most of the time:
        # off while the chunks are written, their numbers and totals written with them.
        triggers = db.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'")
        triggers = triggers.fetchall()
        for name, _ in triggers:
            db.execute(f"DROP TRIGGER {name}")
        try:
            numbers = Numbers(db)
            added = 0
            while added < jobs - have:
                size = min(CHUNK, jobs - have - added)
                _jobs_chunk(db, community, rng, now, size, kinds, statuses, numbers)
                added += size
            numbers.save(db)
            db.commit()
        finally:  # an interrupted fill leaves the schema as storage made it
            db.rollback()
            for _, sql in triggers:
                db.execute(sql)
            db.commit()
        db.execute("ANALYZE")
        db.commit()
        return added

    finally:
        db.close()


class Numbers:
    """What the numbering triggers keep, kept here while they are off: each member's jobs
    in each server, each server's audit rows."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.jobs = {(u, g): n for u, g, n in db.execute("SELECT * FROM history_counts")}
        self.audit = dict(db.execute("SELECT guild_key, rows FROM audit_counts").fetchall())

    def next_job(self, user_id: int, guild: int) -> int:
        self.jobs[user_id, guild] = number = self.jobs.get((user_id, guild), 0) + 1
        return number

    def next_audit(self, guild: int) -> int:
        self.audit[guild] = number = self.audit.get(guild, 0) + 1
        return number

    def save(self, db: sqlite3.Connection) -> None:
        db.executemany(
            "INSERT OR REPLACE INTO history_counts VALUES (?, ?, ?)",
            ((u, g, n) for (u, g), n in self.jobs.items()),
        )
        db.executemany("INSERT OR REPLACE INTO audit_counts VALUES (?, ?)", self.audit.items())


def _members(db: sqlite3.Connection, community: Community, now: datetime) -> None:
    first_seen = (now - timedelta(days=DAYS)).isoformat(timespec="milliseconds")
    db.executemany(
        "INSERT OR IGNORE INTO users (id, first_seen) VALUES (?, ?)",
        ((community.member_id(rank), first_seen) for rank in range(1, community.members + 1)),
    )


def _moderation(
    db: sqlite3.Connection, community: Community, rng: random.Random, now: datetime, first: bool
) -> None:
    """Bans (one member in 1,000; one in ten of them in every server) and, once, the
    blocked words."""
    stamp = now.isoformat(timespec="milliseconds")
    bans = []
    for _ in range(community.members // 1000):
        rank = rng.randint(1, community.members)
        server = ALL_SERVERS if rng.random() < 0.1 else guild_id(community.home[rank - 1])
        bans.append((server, community.member_id(rank), "spam", 1, stamp))
    db.executemany("INSERT OR IGNORE INTO bans VALUES (?, ?, ?, ?, ?)", bans)
    if not first:
        return
    words = [(guild_id(1), f"blocked phrase {n}", 1, stamp) for n in range(500)]
    for server in range(2, SERVERS + 1, 10):
        words += [(guild_id(server), f"word{n}", 1, stamp) for n in range(rng.randint(1, 20))]
    db.executemany(
        "INSERT OR IGNORE INTO blocked_words (guild_id, phrase, added_by, created_at)"
        " VALUES (?, ?, ?, ?)",
        words,
    )


def _jobs_chunk(
    db: sqlite3.Connection,
    community: Community,
    rng: random.Random,
    now: datetime,
    size: int,
    kinds: list[int],
    statuses: list[int],
    numbers: Numbers,
) -> None:
    start = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM jobs").fetchone()[0]) + 1
    rows, images, audit = [], [], []
    for job_id in range(start, start + size):
        rank, server = community.job_author()
        kind, _, count = KINDS[bisect_left(kinds, rng.random() * kinds[-1])]
        status = STATUSES[bisect_left(statuses, rng.random() * statuses[-1])][0]
        created = now - timedelta(seconds=rng.random() * DAYS * 86400)
        stamp = created.isoformat(timespec="milliseconds")
        ended = (created + timedelta(seconds=20)).isoformat(timespec="milliseconds")
        params = _PARAMS["grid" if count == 4 else kind if kind != "upscale" else "upscale"]
        prompt = " ".join(rng.choices(WORDS, k=rng.randint(4, 24)))
        ran = status == "done" or (status == "cancelled" and rng.random() < 0.5)
        rows.append(
            (
                job_id,
                kind,
                community.member_id(rank),
                guild_id(server),
                guild_id(server) + 7,
                job_id * 3,
                prompt,
                params,
                _recipe(kind, rng, job_id - 1),
                rng.getrandbits(31),
                status,
                "the model failed" if status == "failed" else None,
                stamp,
                stamp if ran else None,
                ended,
                ended,
                round(rng.uniform(1.0, 12.0), 2) if ran else None,
                "relax" if rng.random() < 0.1 else "fast",
                numbers.next_job(community.member_id(rank), guild_id(server)),
                (1 << 20) * (count + 1) if status == "done" else 0,
            )
        )
        if status == "done":
            images += [(job_id, n, 1024, 1024, rng.getrandbits(31), 0) for n in range(1, count + 1)]
        if rng.random() < 0.02:
            action = rng.choice(AUDIT_ACTIONS)
            target = str(community.member_id(rank))
            audit.append(
                (
                    guild_id(server),
                    1,
                    action,
                    target,
                    "details",
                    stamp,
                    numbers.next_audit(guild_id(server)),
                )
            )
    db.executemany(
        "INSERT INTO jobs (id, kind, user_id, guild_id, channel_id, message_id, prompt, params,"
        " recipe, seed, status, error, created_at, started_at, finished_at, delivered_at,"
        " gpu_seconds, mode, seq, disk_bytes)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    # What the jobs' files take, as storage keeps it (a running total, 0015).
    db.execute("UPDATE disk_usage SET bytes = bytes + ? WHERE id = 1", (sum(r[-1] for r in rows),))
    db.executemany(
        "INSERT INTO images (job_id, idx, width, height, seed, nsfw) VALUES (?, ?, ?, ?, ?, ?)",
        images,
    )
    db.executemany(
        "INSERT INTO audit (guild_id, actor_id, action, target, details, created_at, seq)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        audit,
    )
    db.commit()

"""Compiled lists in a cache bounded in bytes, and scans on threads of their own within a
time budget."""

from __future__ import annotations

import asyncio
import threading

import pytest

from core.wordfilter import BlockList, CompiledLists, ScanBusy, ScanTooLong, WordScanner
from devtools.filter_bench import blocked_entries, compiled_bytes, hostile_entries


@pytest.mark.parametrize("kind", ["busy server", "hostile"])
def test_the_estimate_covers_what_a_compiled_list_keeps(kind):
    entries = blocked_entries(500) if kind == "busy server" else hostile_entries(500)
    estimate = BlockList(entries).nbytes
    kept = compiled_bytes(entries)
    assert kept <= estimate <= 3 * kept, (kept, estimate)


def test_hostile_lists_compile_to_bounded_memory():
    # 500 entries of 100 characters each, built to make the trie as large as it gets.
    blocklist = BlockList(hostile_entries(500))
    assert blocklist.nbytes < 48 * 1024 * 1024


def test_one_servers_churn_keeps_one_version():
    cache = CompiledLists(budget=64 * 1024 * 1024)
    words = blocked_entries(200)
    for version in range(30):  # banword add, then a prompt, again and again
        cache.get(1, tuple(words[: 150 + version]))
    assert len(cache) == 1
    assert cache.nbytes == cache.get(1, tuple(words[:179])).nbytes


def test_the_cache_is_bounded_in_bytes_for_all_servers_together():
    one = BlockList(blocked_entries(100)).nbytes
    cache = CompiledLists(budget=5 * one)
    for server in range(40):
        cache.get(server, tuple(blocked_entries(100, seed=server)))
        assert cache.nbytes <= cache.budget
    assert 1 <= len(cache) <= 5
    # The most recently used stay; the list asked for is always served.
    assert cache.get(39, tuple(blocked_entries(100, seed=39))) is cache.get(
        39, tuple(blocked_entries(100, seed=39))
    )
    # A server with a costly list pays for it: the largest list goes first.
    mixed = CompiledLists(budget=3 * one + BlockList(hostile_entries(100)).nbytes // 2)
    mixed.get("small 1", tuple(blocked_entries(100, seed=1)))
    mixed.get("hostile", tuple(hostile_entries(100)))
    mixed.get("small 2", tuple(blocked_entries(100, seed=2)))
    assert set(mixed._lists) == {"small 1", "small 2"}
    huge = CompiledLists(budget=1000)
    assert huge.get(1, ("nude",)).find("nude") == "nude"  # too big to keep, still served
    assert len(huge) == 0 and huge.nbytes == 0
    cache.forget(39)
    assert 39 not in {key for key in cache._lists}


async def test_scans_run_on_the_scanners_own_threads():
    scanner = WordScanner(threads=1)
    seen = []
    original = scanner._scan

    def spy(scan):
        seen.append(threading.current_thread().name)
        return original(scan)

    scanner._scan = spy
    try:
        hit = await scanner.find(1, ("nude",), ("a calm lake", "n u d e"))
        assert hit == (1, "nude")
        assert await scanner.find(1, ("nude",), ("a calm lake", "")) is None
        assert seen and all(name.startswith("wordscan") for name in seen)
    finally:
        scanner.close()


async def test_servers_take_turns_and_one_server_holds_one_thread_at_most():
    scanner = WordScanner(threads=2, per_server=2)
    await scanner.ready()
    gate = threading.Event()
    started = []
    original = scanner._scan

    def held(scan):  # server A's scans wait at a gate this test opens
        started.append(scan.key)
        if scan.key == "A":
            gate.wait(30)
        return original(scan)

    scanner._scan = held
    try:
        a_scans = [
            asyncio.ensure_future(scanner.find("A", ("nude",), ("a calm lake",))) for _ in range(4)
        ]
        # A's first scan holds one thread; its others wait for it, not for a thread, so B
        # runs at once on the other thread.
        b = await asyncio.wait_for(scanner.find("B", ("nude",), ("n u d e",)), 30)
        assert b == (0, "nude")
        assert started.count("A") == 1
        # At most per_server of A's scans wait (the first runs): the fourth is refused.
        busy = [t for t in a_scans if t.done()]
        assert len(busy) == 1 and isinstance(busy[0].exception(), ScanBusy)
        gate.set()
        results = await asyncio.gather(*(t for t in a_scans if t not in busy))
        assert results == [None, None, None]
        assert started.count("A") == 3
    finally:
        gate.set()
        scanner.close()


async def test_a_scan_past_its_budget_refuses_rather_than_holding_a_thread():
    scanner = WordScanner(threads=1, budget=0.0)
    try:
        await scanner.ready()
        prompt = "z " * 750  # nearly 6,000 steps, no match
        with pytest.raises(ScanTooLong):
            await scanner.find(1, ("z z z z z z q", "kill"), (prompt,))
        # The thread is free again: the next scan runs (and, within budget, answers).
        scanner.budget = 5.0
        assert await asyncio.wait_for(scanner.find(1, ("kill",), ("k1ll",)), 10) == (0, "kill")
    finally:
        scanner.close()


async def test_tables_that_failed_to_load_are_loaded_again_at_the_next_scan(caplog):
    scanner = WordScanner(threads=1)
    tries = []
    original = scanner._warm_up

    def flaky():
        tries.append(1)
        if len(tries) == 1:
            raise OSError("disk hiccup")
        original()

    scanner._warm_up = flaky
    try:
        with pytest.raises(OSError, match="disk hiccup"):
            await scanner.find(1, ("nude",), ("n u d e",))
        assert "could not be loaded" in caplog.text
        assert await scanner.find(1, ("nude",), ("n u d e",)) == (0, "nude")
        assert len(tries) == 2
    finally:
        scanner.close()

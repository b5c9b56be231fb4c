"""Scans (core/wordfilter/scanner.py) on threads of their own, servers taking turns, each
within a time budget.

A scan looks its server's compiled list up in ``scanner.lists`` on the scan's thread: the
tests put a ``CompiledLists`` there that records that thread and holds the scans of a
server at a gate the test opens (the scan itself runs unchanged)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable

import pytest

from core.wordfilter import BlockList, CompiledLists, ScanBusy, ScanTooLong, WordScanner
from core.wordfilter.scanner import load_all


class HeldLists(CompiledLists):
    """Compiled lists whose lookups say where they ran, those of ``held`` servers
    waiting at ``gate``."""

    def __init__(self, *held: Hashable) -> None:
        super().__init__()
        self.held = set(held)
        self.gate = threading.Event()
        self.asked: list[tuple[Hashable, str]] = []

    def get(self, key: Hashable, entries: tuple[str, ...]) -> BlockList:
        self.asked.append((key, threading.current_thread().name))
        if key in self.held:
            self.gate.wait(30)
        return super().get(key, entries)


@pytest.fixture
def scanner():
    scanner = WordScanner(threads=2, per_server=2)
    yield scanner
    scanner.close()


async def test_scans_run_on_the_scanners_own_threads(scanner):
    scanner.lists = lists = HeldLists()
    assert await scanner.find(1, ("nude",), ("a calm lake", "n u d e")) == (1, "nude")
    assert await scanner.find(1, ("nude",), ("a calm lake", "")) is None
    assert lists.asked and all(name.startswith("wordscan") for _, name in lists.asked)


async def test_nothing_to_check_is_answered_without_a_scan(scanner):
    scanner.lists = lists = HeldLists()
    assert await scanner.find(1, (), ("n u d e",)) is None
    assert await scanner.find(1, ("nude",), ("", "")) is None
    assert lists.asked == []


async def test_servers_take_turns_and_one_server_holds_one_thread_at_most(scanner):
    await scanner.ready()
    scanner.lists = lists = HeldLists("A")
    try:
        a_scans = [
            asyncio.ensure_future(scanner.find("A", ("nude",), ("a calm lake",))) for _ in range(4)
        ]
        # A's first scan holds one thread; its others wait for it, not for a thread, so B
        # runs at once on the other thread.
        b = await asyncio.wait_for(scanner.find("B", ("nude",), ("n u d e",)), 30)
        assert b == (0, "nude")
        assert [key for key, _ in lists.asked].count("A") == 1
        # At most per_server of A's scans wait (the first runs): the fourth is refused.
        busy = [t for t in a_scans if t.done()]
        assert len(busy) == 1 and isinstance(busy[0].exception(), ScanBusy)
        lists.gate.set()
        results = await asyncio.gather(*(t for t in a_scans if t not in busy))
        assert results == [None, None, None]
        assert [key for key, _ in lists.asked].count("A") == 3
    finally:
        lists.gate.set()


async def test_a_scan_past_its_budget_refuses_rather_than_holding_a_thread():
    scanner = WordScanner(threads=1, budget=0.0)
    try:
        await scanner.ready()
        prompt = "z " * 750  # nearly 6,000 steps, no match
        with pytest.raises(ScanTooLong) as refused:
            await scanner.find(1, ("z z z z z z q", "kill"), ("a calm lake", prompt))
        assert refused.value.index == 1  # which text it was reading
        # The thread is free again: the next scan runs (and, within budget, answers).
        scanner.budget = 5.0
        assert await asyncio.wait_for(scanner.find(1, ("kill",), ("k1ll",)), 10) == (0, "kill")
    finally:
        scanner.close()


async def test_tables_that_failed_to_load_are_loaded_again_at_the_next_scan(caplog):
    # The tables cannot be made to fail to load (they are read once per process, and
    # already are): the scanner is given a loader that fails once, then loads them.
    tries = []

    def flaky():
        tries.append(1)
        if len(tries) == 1:
            raise OSError("disk hiccup")
        load_all()

    scanner = WordScanner(threads=1, load=flaky)
    try:
        with pytest.raises(OSError, match="disk hiccup"):
            await scanner.find(1, ("nude",), ("n u d e",))
        assert "could not be loaded" in caplog.text
        assert await scanner.find(1, ("nude",), ("n u d e",)) == (0, "nude")
        assert len(tries) == 2
    finally:
        scanner.close()

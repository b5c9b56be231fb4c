"""Compiled lists by server (core/wordfilter/cache.py): the latest version of each, all of
them together bounded in bytes, the costliest going first."""

from __future__ import annotations

import threading

from core.wordfilter import BlockList, CompiledLists
from devtools.filter_bench import blocked_entries, hostile_entries


def test_an_unchanged_list_is_compiled_once_and_a_changed_one_replaces_it():
    cache = CompiledLists()
    first = cache.get(1, ("nude", "gore"))
    assert cache.get(1, ("nude", "gore")) is first
    assert len(cache) == 1 and cache.nbytes == first.nbytes
    changed = cache.get(1, ("nude",))
    assert changed is not first and changed.find("gore") is None
    assert len(cache) == 1 and cache.nbytes == changed.nbytes
    other = cache.get(2, ("nude", "gore"))  # another server: a list of its own
    assert other is not first and len(cache) == 2
    assert cache.nbytes == changed.nbytes + other.nbytes


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
    huge = CompiledLists(budget=1000)
    assert huge.get(1, ("nude",)).find("nude") == "nude"  # too big to keep, still served
    assert len(huge) == 0 and huge.nbytes == 0


def test_the_largest_list_goes_first():
    # A server with a costly list pays for it: the small ones keep theirs.
    one = BlockList(blocked_entries(100)).nbytes
    small_1, small_2 = (tuple(blocked_entries(100, seed=seed)) for seed in (1, 2))
    hostile = tuple(hostile_entries(100))
    mixed = CompiledLists(budget=3 * one + BlockList(hostile).nbytes // 2)
    kept_1 = mixed.get("small 1", small_1)
    mixed.get("hostile", hostile)
    kept_2 = mixed.get("small 2", small_2)
    assert len(mixed) == 2 and mixed.nbytes == kept_1.nbytes + kept_2.nbytes
    assert mixed.get("small 1", small_1) is kept_1 and mixed.get("small 2", small_2) is kept_2


def test_forget_drops_a_servers_list():
    cache = CompiledLists()
    kept = cache.get(39, ("nude",))
    other = cache.get(40, ("gore",))
    cache.forget(39)
    cache.forget(41)  # a server with no list: nothing to drop
    assert len(cache) == 1 and cache.nbytes == other.nbytes
    assert cache.get(39, ("nude",)) is not kept  # compiled again


def test_threads_asking_at_once_keep_the_count_of_bytes_exact():
    cache = CompiledLists()
    lists = [tuple(blocked_entries(20, seed=seed)) for seed in range(8)]
    start = threading.Barrier(8)

    def ask(server: int) -> None:
        start.wait(10)
        for turn in range(20):
            cache.get(server, lists[(server + turn) % 8])

    threads = [threading.Thread(target=ask, args=(server,)) for server in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(cache) == 8
    assert cache.nbytes == sum(cache.get(s, lists[(s + 19) % 8]).nbytes for s in range(8))

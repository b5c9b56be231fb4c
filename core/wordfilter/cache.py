"""Compiled lists kept by server, bounded in bytes for all servers together."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from core.wordfilter.blocklist import BlockList

DEFAULT_BUDGET = 64 * 1024 * 1024


class CompiledLists:
    """Each server's compiled list, the latest version only (a list that changes replaces
    its old version); once the total estimate (:attr:`BlockList.nbytes`) passes
    ``budget`` bytes, the largest lists go first (of equal ones, the least recently used).
    Safe to use from several threads."""

    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._lists: OrderedDict[Hashable, BlockList] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """The estimated memory of the lists kept."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._lists)

    def get(self, key: Hashable, entries: tuple[str, ...]) -> BlockList:
        """The compiled ``entries`` of server ``key``: the kept one when the list has not
        changed, else compiled now (outside the lock) and kept in place of the old one."""
        with self._lock:
            kept = self._lists.get(key)
            if kept is not None and kept.entries == entries:
                self._lists.move_to_end(key)
                return kept
        fresh = BlockList(entries)
        with self._lock:
            old = self._lists.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            if fresh.nbytes <= self.budget:
                self._lists[key] = fresh
                self._bytes += fresh.nbytes
            while self._bytes > self.budget:
                # The largest list goes first (the least recently used of those): a server
                # whose list is costly pays to compile it again, the others keep theirs.
                victim = max(
                    (k for k in self._lists if k != key),
                    key=lambda k: self._lists[k].nbytes,
                )
                self._bytes -= self._lists.pop(victim).nbytes
        return fresh

    def forget(self, key: Hashable) -> None:
        """Drop server ``key``'s list (it changed, or the server is gone)."""
        with self._lock:
            old = self._lists.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes

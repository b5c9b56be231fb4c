"""The fair order of the waiting jobs (members in turn, fast before relax) and how a
batch is taken from it: its first job (``resident_first``) and the jobs fused with it."""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

from engine.handle import JobHandle
from engine.types import JobSpec


class Queued(Protocol):
    """What the fair order reads of a waiting job."""

    spec: JobSpec
    order: int  # submission order


Q = TypeVar("Q", bound=Queued)


def fair_order(waiting: Iterable[Q], last_served: dict[int, int]) -> list[Q]:
    """The order jobs would run in: every fast job before any relax job (a relax job
    runs only when no fast job waits), each kind round-robin, least recently served
    owner first.

    Owners never served come first, then by when they were last served; each owner's
    own jobs keep their submission order; ties go to the earlier submission.
    """
    return list(fair_iter(waiting, last_served))


def fair_iter(waiting: Iterable[Q], last_served: dict[int, int]) -> Iterator[Q]:
    """``fair_order`` as it is needed: a batch reads the start of it (the whole of it
    only when no job of its shape fills it), in O(log owners) a job."""
    jobs = list(waiting)
    yield from _round_robin([pending for pending in jobs if not pending.spec.relax], last_served)
    yield from _round_robin([pending for pending in jobs if pending.spec.relax], last_served)


def _round_robin(waiting: list[Q], last_served: dict[int, int]) -> Iterator[Q]:
    """Owners in turn: the next is the one least recently served (never served: first),
    ties to the earlier submission. An owner's key changes only when it is served (it
    becomes the most recent), so a heap of owners gives each next job in O(log owners)."""
    queues: dict[int, deque[Q]] = {}
    for pending in sorted(waiting, key=lambda p: p.order):
        queues.setdefault(pending.spec.owner, deque()).append(pending)
    clock = max(last_served.values(), default=0)
    turns = [(last_served.get(owner, -1), jobs[0].order, owner) for owner, jobs in queues.items()]
    heapq.heapify(turns)
    while turns:
        _, _, owner = heapq.heappop(turns)
        jobs = queues[owner]
        yield jobs.popleft()
        clock += 1
        if jobs:
            heapq.heappush(turns, (clock, jobs[0].order, owner))


def resident_first(head: list[JobHandle], holds: Callable[[str], bool], default: str) -> JobHandle:
    """The job a batch starts from: the fair order's first, unless its model is not on
    the worker (``holds``) and another member's next job's is: that one goes first (no
    swap). ``head``: the start of the fair order, as long as there are members waiting
    (each member's next job). A job is passed over so once at most: the next time it
    is the fair choice, it runs."""
    first = head[0]
    if first.passed_over or holds(first.spec.model or default):
        return first
    resident = [
        p for p in head[1:] if p.spec.relax == first.spec.relax and holds(p.spec.model or default)
    ]
    if not resident:
        return first
    first.passed_over = True
    return resident[0]


def fused(first: JobHandle, order: Iterable[JobHandle], max_images: int) -> list[JobHandle]:
    """``first`` and the jobs of its shape in ``order`` while the images fit (read only
    as far as it takes to fill the batch)."""
    batch, images = [first], first.spec.num_images
    for pending in order:
        if images >= max_images:
            break
        if pending is first or pending.spec.shape != first.spec.shape:
            continue
        if pending.spec.relax != first.spec.relax:  # a relax job never slows a fast call
            continue
        if images + pending.spec.num_images <= max_images:
            batch.append(pending)
            images += pending.spec.num_images
    return batch


def chosen_batch(
    waiting: list[JobHandle],
    last_served: dict[int, int],
    holds: Callable[[str], bool] | None,
    default: str,
    max_images: int,
) -> list[JobHandle]:
    """The next batch (left in ``waiting``): its first job (``resident_first`` when
    ``holds`` says which models a worker has) and, while the images fit in
    ``max_images`` (1: batching off), the jobs of its shape in the fair order. The order
    is read lazily: with thousands waiting, a batch costs the start of it."""
    order = fair_iter(waiting, last_served)
    members = len({pending.spec.owner for pending in waiting})
    head = list(itertools.islice(order, members))
    if not head:
        return []
    first = head[0] if holds is None else resident_first(head, holds, default)
    if max_images <= 1:
        return [first]
    return fused(first, itertools.chain(head, order), max_images)

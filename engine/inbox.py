"""The messages a worker thread takes from its inbox, and how a batch is given back."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.faults import Returned, WorkerLost
from engine.handle import JobHandle, settle_threadsafe


@dataclass(frozen=True, slots=True)
class Handoff:
    """A batch handed to the worker: ``ending`` settles when its pipeline call reaches
    its last step (or with ``done``), ``done`` when the worker is through with it: with
    None, or with ``Returned`` when the worker gives the batch back unfinished."""

    ending: asyncio.Future
    done: asyncio.Future


@dataclass(frozen=True, slots=True)
class Batch:
    """Run these same-shape jobs in one call; settle the handoff's futures on the way."""

    items: list[JobHandle]
    handoff: Handoff
    loop: asyncio.AbstractEventLoop

    def ending(self) -> None:
        """Tell the loop the batch is about to end (from the worker thread, once)."""
        if not self.handoff.ending.done():
            settle_threadsafe(self.loop, self.handoff.ending)


@dataclass(frozen=True, slots=True)
class Call:
    """Run ``function`` on the worker thread; its result or error settles ``future``."""

    function: Callable[[], Any]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class Stop:
    """End the thread (after the batch in hand)."""


def give_back_batches(inbox: queue.SimpleQueue) -> None:
    """Take every batch not yet started off ``inbox`` (on the loop, at a stop): its jobs
    are abandoned and its handoff settled; other messages keep their place."""
    kept = []
    while True:
        try:
            message = inbox.get_nowait()
        except queue.Empty:
            break
        if isinstance(message, Batch):
            for item in message.items:
                item.abandon()
            for future in (message.handoff.ending, message.handoff.done):
                if not future.done():
                    future.set_result(None)
        else:
            kept.append(message)
    for message in kept:
        inbox.put(message)


def return_all(inbox: queue.SimpleQueue, error: WorkerLost) -> None:
    """The worker is lost (on its thread, as it ends): every batch still in ``inbox`` is
    given back unstarted, every call fails with ``error``."""
    while True:
        try:
            message = inbox.get_nowait()
        except queue.Empty:
            return
        match message:
            case Batch(_, handoff, loop):
                message.ending()
                settle_threadsafe(loop, handoff.done, Returned(error, False, True))
            case Call(_, future, loop):
                settle_threadsafe(loop, future, None, error)

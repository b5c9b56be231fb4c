"""A worker's inbox (engine/inbox.py): batches given back at a stop, and everything in it
returned when the worker is lost."""

from __future__ import annotations

import asyncio
import queue

import pytest

from engine.faults import Returned, WorkerLost
from engine.handle import JobHandle
from engine.inbox import Batch, Call, Handoff, Stop, give_back_batches, return_all
from engine.types import JobSpec


def batch(*job_ids: int) -> Batch:
    loop = asyncio.get_running_loop()
    items = [JobHandle(JobSpec(job_id, "a fox", "", 64, 64, 2, 7.0, 5), 0) for job_id in job_ids]
    return Batch(items, Handoff(loop.create_future(), loop.create_future()), loop)


def call() -> Call:
    loop = asyncio.get_running_loop()
    return Call(lambda: "ran", loop.create_future(), loop)


def drained(inbox: queue.SimpleQueue) -> list:
    out = []
    while not inbox.empty():
        out.append(inbox.get_nowait())
    return out


async def test_a_stop_gives_back_the_batches_and_keeps_the_other_messages_in_order():
    first, second, function, stop = batch(1, 2), batch(3), call(), Stop()
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    for message in (first, function, second, stop):
        inbox.put(message)
    give_back_batches(inbox)
    assert drained(inbox) == [function, stop]
    for given_back in (first, second):
        assert all(item.output.cancelled() for item in given_back.items)
        assert await given_back.handoff.ending is None
        assert await given_back.handoff.done is None
    assert not function.future.done()


async def test_a_lost_worker_returns_every_batch_unstarted_and_fails_every_call():
    waiting, function = batch(1, 2), call()
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    inbox.put(waiting)
    inbox.put(function)
    lost = WorkerLost("the device is gone")
    await asyncio.to_thread(return_all, inbox, lost)  # on the worker's thread, as it ends
    assert inbox.empty()
    assert await asyncio.wait_for(waiting.handoff.ending, 10) is None
    assert await asyncio.wait_for(waiting.handoff.done, 10) == Returned(lost, False, True)
    with pytest.raises(WorkerLost, match="the device is gone"):
        await asyncio.wait_for(function.future, 10)
    assert not any(item.output.done() for item in waiting.items)  # they go back to the queue


async def test_a_batch_says_it_is_ending_once():
    running = batch(1)
    await asyncio.to_thread(running.ending)
    await asyncio.to_thread(running.ending)  # a second time changes nothing
    assert await asyncio.wait_for(running.handoff.ending, 10) is None
    assert not running.handoff.done.done()

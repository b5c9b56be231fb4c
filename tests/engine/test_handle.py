"""A job's handle (engine/handle.py): one output, settled once, and its events in order,
from the loop or from a worker thread."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from engine.handle import JobHandle, JobStarted, settle_threadsafe
from engine.types import JobOutput, JobSpec, Progress


def spec(job_id: int = 1) -> JobSpec:
    return JobSpec(job_id, "a fox", "", 64, 64, 2, 7.0, 5)


async def events_of(handle: JobHandle) -> list:
    return [update async for update in handle.events()]


async def test_the_output_and_the_events_in_order():
    handle = JobHandle(spec(), order=3)
    assert handle.order == 3 and handle.spec.job_id == 1
    handle.report(JobStarted(1))
    handle.report(Progress(1, 1, 2))
    handle.finish(JobOutput(1, ["image"]), None)
    handle.report(Progress(1, 2, 2))  # after the end: dropped
    assert (await handle).images == ["image"]
    assert await events_of(handle) == [JobStarted(1), Progress(1, 1, 2)]


async def test_the_first_outcome_is_the_one_kept():
    handle = JobHandle(spec(), order=0)
    handle.finish(None, RuntimeError("the pipeline failed"))
    handle.finish(JobOutput(1), None)
    handle.abandon()
    with pytest.raises(RuntimeError, match="pipeline failed"):
        await handle
    assert await events_of(handle) == []


async def test_an_abandoned_job_is_cancelled_and_its_events_end():
    handle = JobHandle(spec(), order=0)
    handle.report(JobStarted(1))
    handle.abandon()
    assert handle.output.cancelled()
    with pytest.raises(asyncio.CancelledError):
        await handle
    assert await events_of(handle) == [JobStarted(1)]


async def test_a_worker_thread_reports_through_the_loop():
    handle = JobHandle(spec(), order=0)

    def worker() -> None:
        assert not handle.cancelled.is_set()
        handle.report_threadsafe(JobStarted(1))
        for step in (1, 2):
            handle.report_threadsafe(Progress(1, step, 2))
        handle.finish_threadsafe(JobOutput(1, ["a", "b"], seconds=1.5), None)

    thread = threading.Thread(target=worker)
    thread.start()
    output = await asyncio.wait_for(handle, 10)
    thread.join(10)
    assert output.images == ["a", "b"] and output.seconds == 1.5
    assert await events_of(handle) == [JobStarted(1), Progress(1, 1, 2), Progress(1, 2, 2)]


def test_a_job_finished_after_its_loop_closed_is_only_logged(caplog):
    async def submit() -> JobHandle:
        return JobHandle(spec(7), order=0)

    handle = asyncio.run(submit())  # the loop is closed when this returns
    with caplog.at_level(logging.INFO, logger="engine.handle"):
        handle.report_threadsafe(JobStarted(7))
        handle.finish_threadsafe(JobOutput(7), None)
    assert "job 7 finished after its loop closed" in caplog.text
    assert not handle.output.done()


async def test_settle_threadsafe_settles_once_from_any_thread():
    loop = asyncio.get_running_loop()
    value, failure = loop.create_future(), loop.create_future()

    def from_a_thread() -> None:
        settle_threadsafe(loop, value, "first")
        settle_threadsafe(loop, value, "second")
        settle_threadsafe(loop, failure, error=OSError("lost"))

    await asyncio.to_thread(from_a_thread)
    assert await value == "first"
    with pytest.raises(OSError, match="lost"):
        await failure


def test_settle_threadsafe_after_the_loop_closed_does_nothing():
    loop = asyncio.new_event_loop()
    future = loop.create_future()
    loop.close()
    settle_threadsafe(loop, future, "late")  # no error: nobody waits any more
    assert not future.done()

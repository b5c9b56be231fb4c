"""The NSFW step: what a worker hands over is classified on the step's own thread, then
reaches the jobs' handles in the order it was handed over; a classifier that fails flags
everything rather than let an unchecked image through."""

from __future__ import annotations

import asyncio
import logging
import threading

from engine.handle import JobHandle, settle_threadsafe
from engine.nsfw_step import NsfwStep, Straight
from engine.types import JobOutput, Progress
from tests.engine.test_scheduler import spec


class Marked:
    """A stand-in classifier: an image is the string "bad" or "ok"; notes its threads."""

    def __init__(self) -> None:
        self.threads: set[str] = set()

    def flags(self, images: list) -> list[bool]:
        self.threads.add(threading.current_thread().name)
        return [image == "bad" for image in images]


class Broken:
    """A classifier that fails on every call."""

    def flags(self, images: list) -> list[bool]:
        raise RuntimeError("the classifier's model is gone")


async def _hand_over(outlet, handle: JobHandle) -> str:  # type: ignore[no-untyped-def]
    """What a worker hands over for one job, from a thread of its own: a preview, a
    step without one, the images, then the end of the batch (its result)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def worker() -> None:
        outlet.progress([(handle, Progress(1, 1, 2, preview="bad"))])
        outlet.progress([(handle, Progress(1, 2, 2))])
        outlet.finish(handle, JobOutput(1, ["ok", "bad"], 1.5))
        outlet.then(lambda: settle_threadsafe(loop, done, "batch done"))

    await asyncio.to_thread(worker)
    return await done


async def test_the_step_classifies_on_its_own_thread_then_settles_in_order():
    classifier = Marked()
    step = NsfwStep(classifier, "w0")
    handle = JobHandle(spec(1), 0)
    try:
        assert await _hand_over(step, handle) == "batch done"
        # The batch's end came after its job's output: the job is settled by then.
        assert handle.output.done()
        events = [update async for update in handle.events()]
        output = await handle
    finally:
        await asyncio.to_thread(step.close)
    assert [(e.step, e.preview, e.preview_nsfw) for e in events] == [
        (1, "bad", True),
        (2, None, False),
    ]
    assert output.nsfw == [False, True] and output.images == ["ok", "bad"]
    assert output.seconds == 1.5
    [thread] = classifier.threads
    assert thread.startswith("nsfw-w0") and thread != threading.current_thread().name


async def test_a_failing_classifier_flags_every_image_and_preview(caplog):
    step = NsfwStep(Broken())
    handle = JobHandle(spec(1), 0)
    with caplog.at_level(logging.ERROR, logger="engine.nsfw_step"):
        try:
            await _hand_over(step, handle)
        finally:
            await asyncio.to_thread(step.close)
    events = [update async for update in handle.events()]
    assert [e.preview_nsfw for e in events] == [True, False], "no preview, no flag"
    assert (await handle).nsfw == [True, True]
    assert "job 1: the NSFW classifier failed; flagging" in caplog.text


async def test_a_cancelled_job_gets_no_more_progress_from_the_step():
    classifier = Marked()
    step = NsfwStep(classifier)
    handle = JobHandle(spec(1), 0)
    handle.cancelled.set()
    try:
        await asyncio.to_thread(step.progress, [(handle, Progress(1, 1, 2, preview="bad"))])
        done = asyncio.get_running_loop().create_future()
        step.then(lambda: settle_threadsafe(handle.loop, done, None))
        await done
    finally:
        await asyncio.to_thread(step.close)
    handle.finish(None, None)  # end the stream: nothing was reported before it
    assert [update async for update in handle.events()] == []
    assert classifier.threads == set(), "nothing to classify"


async def test_without_a_classifier_results_go_straight_to_the_handles():
    handle = JobHandle(spec(1), 0)
    assert await _hand_over(Straight(), handle) == "batch done"
    events = [update async for update in handle.events()]
    assert [e.preview_nsfw for e in events] == [False, False]
    assert (await handle).nsfw == []


async def test_images_the_bot_did_not_make_are_classified_on_the_steps_thread() -> None:
    from engine.nsfw_step import classify_on

    marked = Marked()
    step = NsfwStep(marked, "cpu")
    try:
        assert await classify_on([step], ["ok", "bad"]) == [False, True]
        assert marked.threads == {"nsfw-cpu_0"}
        assert await classify_on([], ["bad"]) is None  # no classifier here: not known
        failing = NsfwStep(Broken())
        assert await classify_on([failing], ["ok"]) == [True]  # unchecked: flagged
        failing.close()
    finally:
        step.close()

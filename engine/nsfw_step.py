"""The NSFW step: between a worker and the jobs' handles, on a thread of its own.

The worker thread only runs the pipeline. What it makes, each finished job's images and
the previews of a pipeline call, it hands to its outlet in order; with the NSFW filter
on that is an ``NsfwStep``, which classifies them on its own thread (neither the worker's
nor the event loop's), fills ``JobOutput.nsfw`` and ``Progress.preview_nsfw``, and only
then settles the handles, so that nothing reaches a channel unchecked. One thread keeps
the order: a job's progress comes before its output, and the end of a batch
(``Outlet.then``) after every job of it. Without the filter, ``Straight`` settles the
handles at once from the worker thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from engine.handle import JobHandle
from engine.types import JobOutput, Progress

logger = logging.getLogger(__name__)


class Straight:
    """No classifier: a worker's results go straight to the jobs' handles."""

    def progress(self, reports: Sequence[tuple[JobHandle, Progress]]) -> None:
        """Report each job's progress."""
        for item, progress in reports:
            item.report_threadsafe(progress)

    def finish(self, item: JobHandle, output: JobOutput) -> None:
        """Settle the job with its output."""
        item.finish_threadsafe(output, None)

    def then(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` now: nothing is held back."""
        callback()

    def close(self) -> None:
        """Nothing to close."""


class NsfwStep:
    """Classifies a worker's outputs and previews with ``classifier`` (an
    ``engine.nsfw.NsfwClassifier``) on one thread of its own, then settles the handles."""

    def __init__(self, classifier: Any, name: str = "") -> None:
        self.classifier = classifier
        self.thread_name = f"nsfw-{name}" if name else "nsfw"
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # the worker's thread and the loop (classify)

    def progress(self, reports: Sequence[tuple[JobHandle, Progress]]) -> None:
        """Classify the step's previews (in one batch), then report each job's progress."""
        self._submit(self._progress, list(reports))

    def finish(self, item: JobHandle, output: JobOutput) -> None:
        """Classify the job's images, then settle the job with them and their verdicts."""
        self._submit(self._finish, item, output)

    def then(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the step's thread, after everything handed over before."""
        self._submit(callback)

    def classify(self, images: list, what: str) -> Future[list[bool]]:
        """The verdicts on ``images`` (shown by the bot, not made by a job), on the step's
        thread after what was handed over before; all flagged if the classifier fails."""
        return self._thread().submit(self._flags, images, what)

    def close(self) -> None:
        """Finish what was handed over (blocking); a later result starts a new thread."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _submit(self, function: Callable[..., None], *args: Any) -> None:
        self._thread().submit(_logged, function, *args)

    def _thread(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix=self.thread_name)
            return self._executor

    def _progress(self, reports: list[tuple[JobHandle, Progress]]) -> None:
        live = [(item, p) for item, p in reports if not item.cancelled.is_set()]
        previews = [p.preview for _, p in live if p.preview is not None]
        flags: Iterator[bool] = iter(())
        if previews:
            ids = ", ".join(str(item.spec.job_id) for item, _ in live)
            # The call's previews in one batch: at 256 px, small beside a step.
            flags = iter(self._flags(previews, f"previews of jobs {ids}"))
        for item, progress in live:
            if progress.preview is not None:
                progress = dataclasses.replace(progress, preview_nsfw=next(flags))
            item.report_threadsafe(progress)

    def _finish(self, item: JobHandle, output: JobOutput) -> None:
        flags = self._flags(output.images, f"job {item.spec.job_id}")
        item.finish_threadsafe(dataclasses.replace(output, nsfw=flags), None)

    def _flags(self, images: list, what: str) -> list[bool]:
        """The classifier's verdicts on ``images``, all flagged when it fails: never send
        what could not be checked as if it were clean."""
        try:
            return self.classifier.flags(images)
        except Exception:
            logger.exception("%s: the NSFW classifier failed; flagging", what)
            return [True] * len(images)


async def classify_on(steps: Sequence[NsfwStep], images: list) -> list[bool] | None:
    """The first step's verdicts on ``images`` (None: no step, no classifier here)."""
    if not steps:
        return None
    return await asyncio.wrap_future(steps[0].classify(images, "an image shown by the bot"))


def _logged(function: Callable[..., None], *args: Any) -> None:
    """Run ``function``; an error is logged (an executor would keep it unseen)."""
    try:
        function(*args)
    except Exception:
        logger.exception("the NSFW step failed")

"""Gates a test holds and opens: never time as a lock."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator
from typing import Any, Protocol

from engine import Engine
from engine.model import LoadedModel


@contextlib.asynccontextmanager
async def held_worker(engine: Engine) -> AsyncIterator[None]:
    """Hold the worker thread until the block ends (a gate the test opens, not a long job)."""
    release = threading.Event()
    held = engine.run_on_worker(lambda: release.wait(timeout=60))
    try:
        yield
    finally:
        release.set()
        assert await held is True  # opened by the test, not by the timeout


class StepGate:
    """Holds a pipeline call at step ``at_step`` until the test opens it: a job that is
    surely running, for as long as the test needs, without a long job as a lock."""

    def __init__(self, at_step: int = 1) -> None:
        self.at_step = at_step
        self.reached = threading.Event()
        self._open = threading.Event()

    def open(self) -> None:
        """Let every held call go on (and the calls after it pass)."""
        self._open.set()

    async def wait_reached(self) -> None:
        """Until a pipeline call is held at the gate."""
        assert await asyncio.to_thread(self.reached.wait, 60), "no call reached the gate"

    def hold(self, step: int) -> None:
        if step + 1 == self.at_step and not self._open.is_set():
            self.reached.set()
            assert self._open.wait(60), "the test never opened the gate"


class HoldsSteps(Protocol):
    """What a gated pipeline calls at the end of each step (0-based ``step``)."""

    def hold(self, step: int) -> None: ...


class _GatedPipeline:
    """The real pipeline, called through a step-end callback that also waits at the gate."""

    def __init__(self, pipeline: Any, gate: HoldsSteps) -> None:
        self._pipeline = pipeline
        self._gate = gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipeline, name)

    def __call__(self, *args: Any, callback_on_step_end: Any = None, **kwargs: Any) -> Any:
        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
            if callback_on_step_end is not None:
                tensors = callback_on_step_end(pipe, step, timestep, tensors)
            self._gate.hold(step)
            return tensors

        return self._pipeline(*args, callback_on_step_end=on_step_end, **kwargs)


def gated(model: LoadedModel, gate: HoldsSteps) -> LoadedModel:
    """``model`` whose pipeline calls wait at ``gate``."""
    return dataclasses.replace(
        model,
        text2img=_GatedPipeline(model.text2img, gate),
        img2img=_GatedPipeline(model.img2img, gate),
        inpaint=_GatedPipeline(model.inpaint, gate),
    )

"""The e2e bot's engine options: gates the tests hold through files, and the preview pace.

The product takes them through its one test seam, ``IMAGINEBOT_TEST_ENGINE_OPTIONS``
(``bot.app``), which the e2e fixtures set to ``engine_options`` below: the local engine
gets ``FileGates`` as its ``hooks`` (``engine.protocols.WorkerHooks``) and, when asked, a
``preview_interval``. A test passes the files to its bot as settings, e.g.
``bot_factory(E2E_WORKER_GATE=gate)``, and opens the gate by removing the file or writing
a larger step: the test decides when the worker runs, never a clock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.handle import JobHandle

TARGET = "tests.e2e.engine_options:engine_options"  # IMAGINEBOT_TEST_ENGINE_OPTIONS
# A file: while it exists, the worker holds each batch before running it (the job is
# "running" and the rest wait), so that a test decides when the GPU is busy, not a clock.
WORKER_GATE = "E2E_WORKER_GATE"
# A file holding a number N: while it exists, every pipeline call stops at the end of its
# step N (after reporting it) until the file says more, so that a test sees a job's
# progress one step at a time, at its own pace.
STEP_GATE = "E2E_STEP_GATE"
# Seconds between a pipeline call's previews (the product's is 2; 0: at every step but
# the last), so that a test held at a step gate knows which step's preview it sees.
PREVIEW_SECONDS = "E2E_PREVIEW_SECONDS"
POLL = 0.02  # seconds between two looks at a gate's file (the test's own file system)


class FileGates:
    """The worker's hooks, opened by the test through two files (either may be unset)."""

    def __init__(self, worker_gate: Path | None, step_gate: Path | None) -> None:
        self.worker_gate = worker_gate
        self.step_gate = step_gate

    def before_batch(self, items: Sequence[JobHandle]) -> None:
        """Hold the batch while the worker gate's file exists. A cancel (a user's, a
        ban's, a clean stop's) reaches a held batch as it would a running one: the batch
        goes on to the worker, which drops its cancelled jobs."""
        if self.worker_gate is None:
            return
        while self.worker_gate.exists() and not all(item.cancelled.is_set() for item in items):
            time.sleep(POLL)

    def after_step(self, step: int) -> None:
        """Hold the call at the end of step N (1-based) while the step gate says N."""
        while (allowed := self.allowed_steps()) is not None and step + 1 >= allowed:
            time.sleep(POLL)

    def allowed_steps(self) -> int | None:
        """The step calls stop at, or None when there is no step gate (or its file is gone)."""
        if self.step_gate is None:
            return None
        try:
            return int(self.step_gate.read_text().strip() or 0)
        except FileNotFoundError:
            return None
        except ValueError:  # read while the test writes it: look again
            return 0


def engine_options() -> dict[str, Any]:
    """The engine's keyword arguments this bot's settings ask for (called by ``bot.app``)."""
    worker_gate, step_gate = os.environ.get(WORKER_GATE), os.environ.get(STEP_GATE)
    options: dict[str, Any] = {}
    if worker_gate or step_gate:
        options["hooks"] = FileGates(
            Path(worker_gate) if worker_gate else None, Path(step_gate) if step_gate else None
        )
    if os.environ.get(PREVIEW_SECONDS):
        options["preview_interval"] = float(os.environ[PREVIEW_SECONDS])
    return options

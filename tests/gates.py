"""Gates a test holds and opens: never time as a lock."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator

from engine import Engine


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

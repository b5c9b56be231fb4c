"""A replica whose pipeline calls wait at a gate the test controls: while the gate file
exists, each call stops after reporting its first step. The replicas are other processes,
so the gate is a file; this module and ``tests.gates`` reach them by value (cloudpickle)."""

from __future__ import annotations

import time
from pathlib import Path

from engine.ray_replica import EngineReplica
from tests.gates import gated


class FileGate:
    """``hold(step)`` for ``tests.gates.gated``: after the first step, wait while the file
    exists (the test removes it to open the gate)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def hold(self, step: int) -> None:
        deadline = time.monotonic() + 120
        while step == 0 and self.path.exists():
            if time.monotonic() > deadline:
                raise AssertionError("the test never opened the gate")
            time.sleep(0.02)  # polls a file the test removes: no lock held on a clock


class GatedReplica(EngineReplica):
    """``EngineReplica`` with its worker's pipeline held at ``gate`` (set before deploying)."""

    gate = ""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        gate = FileGate(self.gate)
        self.resident.wrap(lambda model: gated(model, gate))  # every model of MODELS

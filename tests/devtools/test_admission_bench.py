"""Admission under load (devtools/admission_bench.py): a burst of commands admitted while
the worker is busy, over real storage and the tiny pipeline (a small burst: the times are
not asserted)."""

from __future__ import annotations

import pytest

from devtools.admission_bench import ADMISSION_GUILD, admission
from devtools.filter_bench import blocked_entries
from engine import Engine
from storage.db import Storage
from tests.gates import StepGate, gated


@pytest.mark.parametrize("family", ["sd", "flux"])  # FLUX.1: the burst without --no
async def test_a_small_burst_is_admitted_and_every_job_is_cancelled_after(
    sd_model, dit_models, tmp_path, family
):
    model = sd_model if family == "sd" else dit_models[family]
    # The busy job is held at its first step by a gate the test opens, not by its length.
    gate = StepGate()
    async with Engine(gated(model, gate)) as engine:
        try:
            report = await admission(engine, 1, tmp_path / "data", commands=6, users=2)
        finally:
            gate.open()
    assert (report["commands"], report["users"], report["blocked_words"]) == (6, 2, 500)
    assert 0 < report["p50_ms"] <= report["p99_ms"] <= report["max_ms"]
    async with Storage(tmp_path / "data") as storage:
        jobs = await storage.jobs_with_status(
            "queued", "running", "done", "cancelled", "failed", scope=ADMISSION_GUILD
        )
        assert len(jobs) == 7  # the busy one and the burst
        assert {job.user_id for job in jobs} == {1, 100, 101}
        assert not [job for job in jobs if job.status in ("queued", "running")]
        assert await storage.count_blocked_words(ADMISSION_GUILD) == len(set(blocked_entries(500)))

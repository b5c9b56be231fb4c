"""``imaginebot bench --workers N`` (devtools/scale_bench.py): N pinned workers against
one, on the same jobs."""

from __future__ import annotations

import dataclasses

import pytest

from devtools.bench import BenchOptions


async def test_the_scale_bench_compares_n_pinned_workers_with_one(tiny_model_dirs):
    """``imaginebot bench --workers 2``: both engines run the same jobs, in turns; the
    ratio is the median of the rounds' ratios (a small run: figures not asserted)."""
    import os
    import statistics

    from devtools.scale_bench import format_scale_report, run_scale_bench, worker_options

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("two CPU workers need two cores")
    options = BenchOptions(
        model=str(tiny_model_dirs["sd"]), size=(64, 64), steps=2, jobs=4, users=2, device="cpu"
    )
    report = await run_scale_bench(dataclasses.replace(options, rounds=2), 2)
    assert report["devices"] == ["cpu", "cpu"] and report["rounds"] == 2
    ratios = [two / one for one, two in zip(report["runs_1"], report["runs_2"], strict=True)]
    assert report["ratios"] == pytest.approx(ratios)
    assert report["ratio"] == pytest.approx(statistics.median(ratios))
    assert report["targets"] == {"2 workers >= 1.6x one": report["ratio"] >= 1.6}
    assert "2 workers / 1" in format_scale_report(report)
    # One core and one torch thread each, so that the two do not fight over the cores.
    cores = sorted(os.sched_getaffinity(0))
    assert worker_options(["cpu", "cpu"]) == [
        {"name": "cpu#0", "torch_threads": 1, "cpus": {cores[0]}},
        {"name": "cpu#1", "torch_threads": 1, "cpus": {cores[1]}},
    ]
    with pytest.raises(ValueError, match="cores"):
        worker_options(["cpu"] * (len(cores) + 1))

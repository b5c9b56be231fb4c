"""The benchmark (devtools/bench.py) runs every phase through the real job path and
reports each figure."""

from __future__ import annotations

import pytest

from devtools.bench import BenchOptions, run_bench
from devtools.bench_report import format_report


async def test_bench_measures_bare_and_both_job_paths(tiny_model_dirs):
    options = BenchOptions(
        model=str(tiny_model_dirs["sd"]),
        size=(64, 64),
        steps=2,
        jobs=4,
        users=2,
        device="cpu",
        rounds=2,
    )
    report = await run_bench(options)
    assert report["size"] == "64x64" and report["steps"] == 2
    # Every job-path run sits between two bare runs: bare, off, bare, on, bare, on, bare, off, bare.
    assert report["rounds"] == 2 and len(report["bare"]["runs"]) == 5
    assert report["bare"]["images_per_second"] > 0
    off, on = report["batching_off"], report["batching_on"]
    assert off["pipeline_calls"] == 4  # one call per job
    assert on["pipeline_calls"] < 4  # jobs of one shape were fused (8 images per call)
    for phase in (off, on):
        assert phase["images_per_second"] > 0 and len(phase["ratios"]) == 2
        assert phase["ratio_min"] > 0
        # Time in pipeline calls, within the run's own time (measured apart, on the worker).
        assert 0 < phase["worker_busy"] <= 1.0
        # Each job's GPU seconds, measured and kept on its row: all of them within the
        # run's wall time together (the worker runs one call at a time).
        assert len(phase["gpu_seconds"]) == 4 and all(s > 0 for s in phase["gpu_seconds"])
        assert sum(phase["gpu_seconds"]) <= phase["wall_seconds"]
        assert phase["gpu_seconds_per_job"] > 0
    # Each job-path run against the mean of the bare runs on either side of it.
    bare = report["bare"]["runs"]
    for key, sides in (("batching_off", [(0, 1), (3, 4)]), ("batching_on", [(1, 2), (2, 3)])):
        expected = [
            run * 2 / (bare[before] + bare[after])
            for run, (before, after) in zip(report[key]["runs"], sides, strict=True)
        ]
        assert report[key]["ratios"] == pytest.approx(expected)
        assert 0 < phase["latency_p50_s"] <= phase["latency_p95_s"]
        assert phase["peak_bytes"] > 0
    text = format_report(report)
    assert "job path, batching on" in text and "median of 2 rounds" in text
    assert "GPU s/job" in text
    admission = report["admission"]
    assert admission["commands"] == 30 and admission["users"] == 10
    assert 0 < admission["p50_ms"] <= admission["p99_ms"] <= admission["max_ms"]
    assert "admission, 30 commands from 10 users" in text


def test_bench_workers_needs_two_or_more(capsys):
    from bot.cli import main

    assert main(["bench", "--workers", "1", "--model", "unused"]) == 2
    assert "--workers must be at least 2" in capsys.readouterr().err

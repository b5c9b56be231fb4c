"""The benchmark runs every phase through the real job path and reports each figure."""

from __future__ import annotations

import dataclasses

import pytest

from devtools.bench import BenchOptions, format_report, run_bench


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
    admission = report["admission"]
    assert admission["commands"] == 30 and admission["users"] == 10
    assert 0 < admission["p50_ms"] <= admission["p99_ms"] <= admission["max_ms"]
    assert "admission, 30 commands from 10 users" in text


def test_bench_filter_prints_the_matcher_figures_as_json(capsys):
    import json
    import os

    from bot.cli import main

    umask = os.umask(0o022)
    try:
        assert main(["bench", "--filter", "--json"]) == 0
        assert os.umask(0o022) == 0o077  # the CLI keeps its files to itself
    finally:
        os.umask(umask)
    report = json.loads(capsys.readouterr().out)
    assert report["entries"] == 500 and report["prompt_chars"] == 1500
    assert report["prompts"] >= 8 and report["prompts_matching"] == 0
    # A wide bound: the old matcher took about 15 s on one of these prompts.
    assert 0 < report["filter_ms_median"] <= report["filter_ms_max"] < 1000


async def test_the_output_bench_reports_its_keys_from_its_runs():
    """``imaginebot bench --output-only``: the cost per grid and both throughputs, rebuilt
    here from the runs it reports (a small run: the figures themselves are not asserted)."""
    import statistics

    from devtools.output_bench import run_output_bench

    report = await run_output_bench(jobs=3, rounds=2)
    for encoders in (1, 2):
        runs = report[f"runs_grids_per_s_{encoders}"]
        assert len(runs) == 2 and all(rate > 0 for rate in runs)
        rate = report[f"output_grids_per_s_{encoders}"]
        assert abs(rate - statistics.median(runs)) <= 0.01
    # The speed-up is the median of each round's ratio (its two runs side by side).
    ratios = [
        two / one
        for one, two in zip(report["runs_grids_per_s_1"], report["runs_grids_per_s_2"], strict=True)
    ]
    assert abs(report["encoders_speedup"] - statistics.median(ratios)) <= 0.02
    # The CPU per grid: the worker's conversion to 8-bit and the encoder's work.
    parts = report["conversion_ms_per_grid"] + report["encoding_ms_per_grid"]
    assert report["conversion_ms_per_grid"] > 0 and report["encoding_ms_per_grid"] > 0
    assert abs(report["output_ms_per_grid"] - parts) <= 0.11
    assert report["targets"]["two encoders >= 1.7x one"] == (report["encoders_speedup"] >= 1.7)
    assert 0 < report["thumbnail_bytes"] < report["image_png_bytes"] < report["grid_png_bytes"]


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


def test_bench_workers_needs_two_or_more(capsys):
    from bot.cli import main

    assert main(["bench", "--workers", "1", "--model", "unused"]) == 2
    assert "--workers must be at least 2" in capsys.readouterr().err

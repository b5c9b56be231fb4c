"""``imaginebot bench --output-only`` (devtools/output_bench.py): the CPU cost of a job's
outputs, with one encoder and two."""

from __future__ import annotations


async def test_the_output_bench_reports_its_keys_from_its_runs():
    """``imaginebot bench --output-only``: the cost per grid and both throughputs, rebuilt
    here from the runs it reports (a small run: the figures themselves are not asserted)."""
    import statistics

    from devtools.output_bench import run_output_bench

    report = await run_output_bench(jobs=3, rounds=2, clip_frames=12)
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
    # The clip case: frames of 480p to MP4, each round timed, the median and the worst.
    runs = report["runs_clip_encode_s"]
    assert len(runs) == 2 and all(seconds > 0 for seconds in runs)
    assert abs(report["clip_encode_s"] - statistics.median(runs)) <= 0.01
    assert report["clip_encode_worst_s"] == max(runs)
    assert report["clip_frames"] == 12 and report["clip_size"] == "832x480"
    assert report["clip_cpu_s"] > 0 and 0 < report["clip_mb"] < 10
    assert report["clip_attempts"] == 1  # far under Discord's limit: one quality encode


def test_the_bench_clip_moves_and_is_neither_noise_nor_flat():
    """The clip's frames: 480p, each a shifted view of the last (a pan), with detail."""
    import numpy as np

    from devtools.output_bench import synthetic_clip

    frames = synthetic_clip(0, 6)
    assert frames.shape == (6, 480, 832, 3) and frames.dtype == np.uint8
    assert frames[0].std() > 10  # not flat colour
    steps = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean()
    assert steps > 1  # it moves
    # a pan: frame 2 is frame 0 moved 4 px left and 1 up, up to light and grain
    moved = np.abs(frames[2, :-1, :-4].astype(int) - frames[0, 1:, 4:]).mean()
    assert moved < steps  # nearer to the moved picture than frame to frame

"""``imaginebot bench``'s report for people: a small table (``--json`` prints the dict)."""

from __future__ import annotations

from typing import Any


def format_report(report: dict[str, Any]) -> str:
    """The report as a small table."""

    def mib(value: int | None) -> str:
        return f"{value / 2**20:,.0f}" if value else "-"

    def seconds(value: float | None) -> str:
        return f"{value:.2f}" if value is not None else "-"

    bare = report["bare"]
    lines = [
        f"imaginebot bench: {report['model']} ({report['family']}, {report['dtype']}) on "
        f"{report['device']}, {report['size']}, {report['steps']} steps, "
        f"{report['jobs']} jobs from {report['users']} users, "
        f"batches of up to {report['max_batch_images']} images, "
        f"median of {report['rounds']} rounds",
        f"one bare call (4 images): {bare['seconds_per_call']:.3f} s",
        "",
        f"{'':26}{'images/s':>10}{'vs bare':>9}{'spread':>12}{'p50 s':>8}{'p95 s':>8}"
        f"{'calls':>7}{'peak MiB':>10}{'busy':>7}{'GPU s/job':>10}",
        f"{'bare pipeline, 4 per call':26}{bare['images_per_second']:>10.2f}{1.0:>9.2f}"
        f"{'-':>12}{'-':>8}{'-':>8}{report['jobs']:>7}{mib(bare['peak_bytes']):>10}{'-':>7}",
    ]
    for key, label in (
        ("batching_off", "job path, batching off"),
        ("batching_on", "job path, batching on"),
    ):
        phase = report[key]
        spread = f"{phase['ratio_min']:.2f}-{phase['ratio_max']:.2f}"
        lines.append(
            f"{label:26}{phase['images_per_second']:>10.2f}{phase['ratio_to_bare']:>9.2f}"
            f"{spread:>12}{seconds(phase['latency_p50_s']):>8}"
            f"{seconds(phase['latency_p95_s']):>8}{phase['pipeline_calls']:>7g}"
            f"{mib(phase['peak_bytes']):>10}{phase['worker_busy']:>7.1%}"
            f"{phase['gpu_seconds_per_job']:>10.3f}"
        )
    rates = ", ".join(f"{rate:.2f}" for rate in bare["runs"])
    lines.append(f"(bare pipeline, each run in turn: {rates} images/s)")
    lines.append("(busy: the share of a job-path run the worker spent in pipeline calls)")
    lines.append(
        "(GPU s/job: the median job's device seconds, its share of the calls it ran in, "
        "as its row keeps them; CUDA events on a GPU, the wall clock on a CPU)"
    )
    if "admission" in report:
        adm = report["admission"]
        lines.append(
            f"admission, {adm['commands']} commands from {adm['users']} users at once with the "
            f"worker busy: p50 {adm['p50_ms']:.1f} ms, p99 {adm['p99_ms']:.1f} ms, "
            f"max {adm['max_ms']:.1f} ms"
        )
    return "\n".join(lines)


def format_data_report(result: dict[str, Any]) -> str:
    """``bench --scale``'s report as text: p99s (p50s in brackets) by size, then the rest."""
    entries = result["sizes"]
    ops = list(entries[0]["p99_ms"])
    head = f"{'operation':<18}" + "".join(f"{entry['jobs']:>22,}" for entry in entries)
    lines = [
        f"imaginebot bench --scale: p99 (p50) in ms over {result['calls']} calls, by jobs stored",
        head + f"{'growth':>9}",
    ]
    for op in ops:
        cells = "".join(
            f"{entry['p99_ms'][op]:>13.2f} ({entry['p50_ms'][op]:>6.2f})" for entry in entries
        )
        lines.append(f"{op:<18}{cells}{result['growth'][op]:>8.2f}x")
    for entry in result["queue"]:
        lines.append(
            f"{entry['queued']:,} queued: restart first job {entry['restart_first_job_s']:.2f} s,"
            f" all resumed {entry['restart_all_resumed_s']:.2f} s; next batch p99"
            f" {entry['next_batch']['p99_ms']:.2f} ms; every position p99"
            f" {entry['positions']['p99_ms']:.2f} ms"
        )
    lines.append(
        f"database: {result['db_bytes_per_million_jobs'] / 1e6:,.0f} MB per million jobs;"
        f" resident memory {result['rss_mb']:.0f} MB; fill "
        + ", ".join(f"{entry['jobs']:,} in {entry['fill_s']} s" for entry in entries)
    )
    lines += [f"  {key}: {'met' if met else 'NOT met'}" for key, met in result["targets"].items()]
    return "\n".join(lines)

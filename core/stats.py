"""/admin stats (issue 28): where a server's GPU time went, as a chart and as figures.

The chart is a PNG of GPU minutes by UTC day, stacked by the members who spent the most
(the rest as "others"), drawn with matplotlib's object API on the Agg canvas (no pyplot:
no global state, safe on a worker thread) beside the figures: GPU time by member, jobs
and GPU time by kind and by model, failures by reason. An admin sees their server; the
bot's owners (``OWNER_IDS``) see every server's totals.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

MAX_DAYS = 90
STACKED = 5  # members drawn in the chart; the rest stack as "others"
COLOURS = ("#5865F2", "#57F287", "#FEE75C", "#EB459E", "#ED4245", "#99AAB5")


@dataclass(frozen=True, slots=True)
class Stats:
    """One scope's figures since ``since`` (``days`` UTC days, today's included)."""

    days: int
    since: datetime
    everywhere: bool  # every server's (an owner's view)
    by_day: list[tuple[str, int, float]]  # (YYYY-MM-DD, user, GPU seconds)
    by_member: list[tuple[int, float, int]]  # (user, GPU seconds, jobs), most first
    by_kind: list[tuple[str, int, float]]  # (kind, jobs, GPU seconds)
    by_model: list[tuple[str, int, float]]  # (model name, jobs, GPU seconds)
    failures: list[tuple[str, int]]  # (reason, jobs)

    @classmethod
    def of(cls, rows: Mapping[str, list[Any]], days: int, since: datetime, everywhere: bool):
        """From ``storage.stats.StatsRows.stats``'s rows."""
        return cls(days, since, everywhere, **{k: list(v) for k, v in rows.items()})

    @property
    def gpu_seconds(self) -> float:
        """All of it."""
        return sum(seconds for _, _, seconds in self.by_kind)

    @property
    def jobs(self) -> int:
        """All of them."""
        return sum(count for _, count, _ in self.by_kind)

    def day_list(self) -> list[date]:
        """Every day of the span, the empty ones too."""
        first = self.since.date()
        return [first + timedelta(days=n) for n in range(self.days)]


def chart_png(stats: Stats, names: Mapping[int, str]) -> bytes:
    """GPU minutes by day, stacked by the top members (``names``: how to label them);
    blocking (a worker thread): a few hundred milliseconds."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    days = stats.day_list()
    top = [user for user, _, _ in stats.by_member[:STACKED]]
    series: dict[int | None, list[float]] = {user: [0.0] * len(days) for user in top}
    series[None] = [0.0] * len(days)  # others
    index = {day.isoformat(): n for n, day in enumerate(days)}
    for day, user, seconds in stats.by_day:
        if day in index:
            series[user if user in series else None][index[day]] += seconds / 60
    figure = Figure(figsize=(8, 4), dpi=100, facecolor="#2B2D31")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_facecolor("#2B2D31")
    bottom = [0.0] * len(days)
    positions = list(range(len(days)))
    for colour, (user, minutes) in zip(COLOURS, series.items(), strict=False):
        if not any(minutes):
            continue
        label = "others" if user is None else names.get(user, f"user {user}")[:24]
        axes.bar(positions, minutes, bottom=bottom, color=colour, label=label, width=0.8)
        bottom = [b + m for b, m in zip(bottom, minutes, strict=True)]
    step = max(1, len(days) // 10)
    axes.set_xticks(positions[::step], [day.strftime("%b %d") for day in days[::step]])
    axes.set_ylabel("GPU minutes", color="#DBDEE1")
    scope = "every server" if stats.everywhere else "this server"
    axes.set_title(f"GPU time by day, {scope}, last {stats.days} days", color="#F2F3F5")
    axes.tick_params(colors="#B5BAC1")
    for spine in axes.spines.values():
        spine.set_color("#4E5058")
    if any(bottom):
        axes.legend(facecolor="#313338", edgecolor="#4E5058", labelcolor="#DBDEE1")
    else:
        axes.text(
            0.5, 0.5, "no GPU time yet", ha="center", color="#B5BAC1", transform=axes.transAxes
        )
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", facecolor=figure.get_facecolor())
    return out.getvalue()


def figures_text(stats: Stats, mention: bool = True) -> str:
    """The figures beside the chart, for Discord (under its 2000 characters)."""
    minutes = stats.gpu_seconds / 60
    lines = [
        f"**{minutes:.1f} GPU minutes** over {stats.jobs} jobs in the last {stats.days} days"
        + (" (every server)" if stats.everywhere else "")
        + ".",
        "By member: "
        + (
            ", ".join(
                (f"<@{user}>" if mention else str(user)) + f" {seconds / 60:.1f} min ({count})"
                for user, seconds, count in stats.by_member
            )
            or "none"
        ),
        "By kind: " + (", ".join(f"{kind} {count}" for kind, count, _ in stats.by_kind) or "none"),
        "By model: "
        + (", ".join(f"`{model[:40]}` {count}" for model, count, _ in stats.by_model) or "none"),
        "Failures: "
        + (", ".join(f"{reason[:80]} ({count})" for reason, count in stats.failures) or "none"),
    ]
    return "\n".join(lines)[:2000]

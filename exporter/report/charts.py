"""The report's two charts, drawn as SVG by pygal (pure Python, no browser or native library needed).

Days before a module was measured are None, which pygal leaves empty: missing data is never drawn as 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pygal
from pygal.style import Style

from exporter.report.data import FINISHED, GOOD, CustomerMonth, days, local

# Everything but the colours, shared by both charts.
_LOOK: dict[str, object] = {
    "background": "#ffffff",
    "plot_background": "#ffffff",
    "foreground": "#333333",
    "foreground_strong": "#111111",
    "foreground_subtle": "#777777",
    "font_family": "Helvetica, Arial, sans-serif",
    "label_font_size": 11,
    "legend_font_size": 12,
    "title_font_size": 14,
}
# The colours of the status page: green success, red failure, grey for the rest.
_STYLE = Style(colors=("#2e7d32", "#c62828", "#9e9e9e", "#1565c0", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037"), **_LOOK)
# Lines of the size chart: no green or red, which mean success and failure in the other chart.
_LINES = Style(colors=("#1565c0", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#ad1457", "#558b2f", "#37474f"), **_LOOK)
# pygal adds a <script> with its configuration (for tooltips it would load from the network): not wanted in
# a self-contained page, and never a place where text from the API should end up.
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S | re.I)
GIB = 2**30


@dataclass(frozen=True)
class Charts:
    daily: str  # SVG: finished runs per day, success vs failure
    size: str  # SVG: backup size per module over the month
    size_legend: tuple[tuple[str, str], ...] = ()  # (module, colour) of its lines


def _svg(chart: pygal.graph.graph.Graph) -> str:
    return _SCRIPT.sub("", chart.render(is_unicode=True))


def _common(style: Style = _STYLE) -> dict[str, object]:
    return {
        "js": [],
        "disable_xml_declaration": True,
        "style": style,
        "width": 760,
        "height": 260,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 3,
        "truncate_legend": 40,
        "print_values": False,
        "no_data_text": "not measured",
    }


def daily_counts(month: CustomerMonth) -> dict[str, list[int | None]]:
    """Finished runs per day: from the counters where a job has them (so the bars add up to the table's
    runs), else its runs seen in the gauges by their date. Days before any job was measured are None."""
    spans = days(month.period)
    first = min([j.measured_from for j in month.jobs], default=month.measured_from)
    counts: dict[str, list[int | None]] = {"successful": [], "failed": [], "other": []}
    for i, (a, b) in enumerate(spans):
        if b <= first:  # not measured yet: left empty, not 0
            for values in counts.values():
                values.append(None)
            continue
        day = {o: 0 for o in FINISHED}
        for job in month.jobs:
            if job.per_day is not None:
                for o in FINISHED:
                    day[o] += job.per_day[i].get(o, 0)
            else:
                for r in job.runs:
                    if a <= r.when < b:
                        day[r.outcome] = day.get(r.outcome, 0) + 1
        counts["successful"].append(sum(day[o] for o in GOOD))
        counts["failed"].append(day["failed"])
        counts["other"].append(sum(v for o, v in day.items() if o not in (*GOOD, "failed")))
    return counts


def daily(month: CustomerMonth) -> str:
    # Bars side by side, not stacked: pygal's StackedBar draws a None as 0, its Bar leaves it out.
    chart = pygal.Bar(title="Finished runs per day", include_x_axis=True, **_common())
    chart.x_labels = [local(a, month.period.zone, "%d") for a, _ in days(month.period)]
    for title, values in daily_counts(month).items():
        chart.add(title, values)
    return _svg(chart)


def size(month: CustomerMonth) -> str:
    # The legend is the page's (size_legend): pygal keeps room for one row of it at the bottom and cuts more.
    options = {**_common(_LINES), "show_legend": False}
    chart = pygal.XY(
        title="Backup size of the latest run (GiB) by day of the month",
        allow_interruptions=True,
        show_dots=False,
        x_title="day",
        **options,
    )
    start = month.period.start
    for job in month.jobs:
        if job.never_ran:  # its size is the never-run row's 0, not a backup's
            continue
        points: list[tuple[float, float] | None] = []
        last = None
        for t, v in job.size_samples:
            if last is not None and any(last <= a and t >= b for a, b in month.holes):
                points.append(None)  # a hole in the measurement breaks the line instead of bridging it
            points.append((1 + (t - start) / 86400, v / GIB))
            last = t
        if points:
            chart.add(f"{job.job_type} / {job.job_module}", points)
    return _svg(chart)


def size_legend(month: CustomerMonth) -> tuple[tuple[str, str], ...]:
    """(series name, colour) of the size chart's lines, in its order, for the page to print below it."""
    names = [f"{j.job_type} / {j.job_module}" for j in month.jobs if not j.never_ran and j.size_samples]
    colours = _LINES.colors
    return tuple((name, colours[i % len(colours)]) for i, name in enumerate(names))


def for_customer(month: CustomerMonth) -> Charts:
    return Charts(daily(month), size(month), size_legend(month))


__all__ = ["Charts", "daily", "daily_counts", "for_customer", "size", "size_legend"]

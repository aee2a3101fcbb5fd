"""The dashboards' queries as a live stack runs them: every panel's, its variables filled in."""

from __future__ import annotations

from collections.abc import Mapping


def live_queries(values: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL) of every panel a stack up for a minute can answer.

    Left out: panels of v3-only data (the stacks run legacy; tests/integration/test_seats_stack.py runs them),
    and the report dashboard, whose month of runs and gaps such a stack does not have (a ratio of no finished
    runs is no number): tests/artifacts/test_report_dashboard.py runs it on a backfilled month.
    """
    from dashboards import generate, panels

    out: list[tuple[str, str, str]] = []
    for name, dashboard in generate.build().items():
        if name == "avepoint-report.json":
            continue
        for title, expr in generate.panel_queries(dashboard):
            if title not in panels.V3_ONLY:
                query = generate.substitute(expr, values, rate_interval="30s", interval="15s", range_="5m")
                out.append((name, title, query))
    return out

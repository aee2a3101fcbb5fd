"""The report's pages from records: summary lines, a module without success on the fleet page, the missing extra."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from exporter import cli, report
from exporter.report import charts, data, html
from exporter.report.charts import Charts
from exporter.report.prometheus import Series
from tests.unit.report.test_data import DEC, HOURS, INFO, JOB, NOV, UTCZ, _fetcher


def failing_month() -> data.CustomerMonth:
    failed = Series({**JOB, "outcome": "failed", "status": "Failed"}, tuple((t, 1.0) for t in HOURS))
    starts = Series(JOB, tuple((t, NOV + (i // 6) * 6 * 3600) for i, t in enumerate(HOURS)))
    return data.build(
        _fetcher(
            {
                "avepoint_customer_info": [INFO],
                "avepoint_backup_job_status": [failed],
                "avepoint_backup_job_start_timestamp_seconds": [starts],
            }
        ),
        "c1",
        data.parse_month("2026-11", UTCZ, DEC),
        now=DEC,
    )


def test_a_module_that_only_failed_is_named_on_both_pages() -> None:
    month = failing_month()
    (job,) = month.jobs
    assert job.total == job.failed == 8 and job.last_success is None
    text, bad = html.summary(month)
    assert bad and text == "1 of 1 modules had failed runs (8 in all); 1 without a successful run."
    page = html.customer(month, html.Page(), Charts(daily="", size=""))
    assert '<span class="bad">none seen</span>' in page and "0.0 %" in page
    fleet = html.fleet((month,), html.Page(msp_name="M"))
    assert '<span class="bad">Microsoft 365 / Exchange Online</span>' in fleet


def test_durations_read_as_days_hours_minutes() -> None:
    assert [html.duration(s) for s in (0, 59, 60 * 45, 3600, 3600 * 26 + 60 * 5, 86400 * 4)] == [
        "0 min",
        "1 min",
        "45 min",
        "1 h",
        "1 d 2 h",
        "4 d",
    ]


def test_without_the_report_extra_the_message_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pygal", None)  # import pygal raises ImportError
    monkeypatch.delitem(sys.modules, "exporter.report.charts", raising=False)
    monkeypatch.delattr(report, "charts", raising=False)  # `from exporter.report import charts` looks here first
    argv = ["report", "--prometheus.url", "http://127.0.0.1:9", "--month", "2026-11", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    err = capfd.readouterr().err
    assert "the report needs the 'report' extra (pygal is missing)" in err
    assert "pip install 'avepoint-backup-exporter[report]'" in err


def test_a_never_run_module_is_not_drawn() -> None:
    never = data.JobMonth(
        "Microsoft 365", "Power Apps", "backup", "gauges", {}, (), NOV, None, None, (0, 0), (0, 0),
        ((NOV + 3600, 0.0), (NOV + 7200, 0.0)), never_ran=True,
    )  # fmt: skip
    month = failing_month()
    drawn = charts.size(month)
    with_never = charts.size(replace(month, jobs=(*month.jobs, never)))
    assert "Power Apps" not in with_never and with_never.count("<path") == drawn.count("<path")
    assert "never ran" in html.customer(replace(month, jobs=(never,)), html.Page(), Charts("", ""))

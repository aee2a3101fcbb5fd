"""The report review's fixes (issue 16): which jobs are judged, non-finite samples, duplicate sources, names."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import pytest

from exporter import cli
from exporter.report import charts, data, html
from exporter.report.charts import Charts
from exporter.report.errors import UsageError
from exporter.report.prometheus import Prometheus, Series
from tests.unit.report.test_data import DEC, HOURS, INFO, NOV, UTCZ, _fetcher

BACKUP = {"customer_id": "c1", "job_type": "Microsoft 365", "job_module": "Exchange Online"}
SCAN = {"customer_id": "c1", "job_type": "Microsoft 365", "job_module": "Scan Profile"}
NOVEMBER = data.parse_month("2026-11", UTCZ, DEC)


def _counters(job: dict[str, str], outcome: str, count: float) -> list[Series]:
    return [
        Series({**job, "outcome": o}, ((HOURS[0], 0.0), (HOURS[-1], count if o == outcome else 0.0)))
        for o in data.FINISHED
    ]


def _status(job: dict[str, str], outcome: str) -> Series:
    return Series({**job, "outcome": outcome, "status": outcome}, tuple((t, 1.0) for t in HOURS))


def _kind(job: dict[str, str], kind: str, times: list[float]) -> Series:
    return Series({**job, "kind": kind}, tuple((t, 1.0) for t in times))


def scan_and_backup(scan_kinds: list[Series]) -> data.CustomerMonth:
    return data.build(
        _fetcher(
            {
                "avepoint_customer_info": [INFO],
                "avepoint_backup_job_status": [_status(BACKUP, "success"), _status(SCAN, "failed")],
                "avepoint_backup_job_start_timestamp_seconds": [Series(BACKUP, ((HOURS[0], NOV),)),
                                                                Series(SCAN, ((HOURS[0], NOV),))],
                "avepoint_backup_job_last_success_timestamp_seconds": [Series(BACKUP, ((HOURS[-1], HOURS[-2]),))],
                "avepoint_backup_job_kind": [_kind(BACKUP, "backup", HOURS), *scan_kinds],
                "avepoint_backup_job_runs_total": _counters(BACKUP, "success", 30) + _counters(SCAN, "failed", 30),
            }
        ),
        "c1",
        NOVEMBER,
        now=DEC,
    )  # fmt: skip


def test_scan_jobs_are_shown_but_not_judged_as_the_rules_judge() -> None:
    month = scan_and_backup([_kind(SCAN, "scan", HOURS)])
    assert {j.job_module: j.kind for j in month.jobs} == {"Exchange Online": "backup", "Scan Profile": "scan"}
    # The recording rule avepoint_customer:backup_job_success_ratio leaves the scan job out: 1.0, not 0.5.
    assert month.ratio == 1.0
    assert month.failed == 0 and month.modules_with_failures == () and month.modules_without_success == ()
    text, bad = html.summary(month)
    assert not bad and text == "All backups healthy: 1 of 1 modules succeeded, no failed runs."
    page = html.customer(month, html.Page(), Charts("", ""))
    assert "Scan Profile <span class=note>(scan, not a backup)</span>" in page
    fleet = html.fleet((month,), html.Page())
    assert '<td class="n">100.0 %</td>' in fleet and '<td class="n">0</td>' in fleet


def test_the_kind_is_the_newest_samples_whatever_the_answer_order() -> None:
    # The job was a backup until hour 20, a scan after: the newest kind is scan, though listed first.
    month = scan_and_backup([_kind(SCAN, "scan", HOURS[20:]), _kind(SCAN, "backup", HOURS[:20])])
    assert {j.job_module: j.kind for j in month.jobs}["Scan Profile"] == "scan"
    assert month.ratio == 1.0
    month = scan_and_backup([_kind(SCAN, "backup", HOURS[20:]), _kind(SCAN, "scan", HOURS[:20])])
    assert month.ratio == 0.5 and len(month.modules_with_failures) == 1


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_sample_is_skipped_wherever_samples_are_read(bad: float) -> None:
    counters = [
        Series(
            {**BACKUP, "outcome": o}, ((HOURS[0], 0.0), (HOURS[5], bad), (HOURS[10], 3.0 if o == "success" else 0.0))
        )
        for o in data.FINISHED
    ]
    odd = (HOURS[0], bad)
    month = data.build(
        _fetcher(
            {
                "avepoint_customer_info": [Series(INFO.labels, (odd, *INFO.samples))],
                "avepoint_backup_job_status": [_status(BACKUP, "success")],
                "avepoint_backup_job_start_timestamp_seconds": [Series(BACKUP, (odd, (HOURS[1], NOV)))],
                "avepoint_backup_job_last_success_timestamp_seconds": [
                    Series(BACKUP, ((HOURS[2], NOV), (HOURS[3], bad)))
                ],
                "avepoint_backup_job_size_bytes": [Series(BACKUP, ((HOURS[2], 10.0), (HOURS[3], bad)))],
                "avepoint_backup_job_runs_total": counters,
                "avepoint_protected_objects": [Series({"customer_id": "c1", "service": "s", "module": "m"}, (odd,))],
            }
        ),
        "c1",
        NOVEMBER,
        now=DEC,
    )  # fmt: skip
    (job,) = month.jobs
    assert job.outcomes["success"] == 3 and job.last_success == NOV and job.size == (10.0, 10.0)
    assert month.measured_from == HOURS[0] and month.protected == ()
    html.customer(month, html.Page(), Charts("", ""))


def test_an_unexpected_error_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> list[str]:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(data, "customers", broken)
    monkeypatch.setattr(Prometheus, "samples", lambda *a: [])
    argv = ["report", "--prometheus.url", "http://127.0.0.1:9", "--month", "2026-11", "--out", str(tmp_path)]
    assert cli.main(argv) == 1
    err = capfd.readouterr().err
    assert "internal error" in err and "ZeroDivisionError" in err and "Traceback" not in err


def _at(series: list[Series], job: str, instance: str, shift: float = 0.0) -> list[Series]:
    return [
        Series({**s.labels, "job": job, "instance": instance}, tuple((t + shift, v) for t, v in s.samples))
        for s in series
    ]


def two_targets(second: str, shift: float = 0.0) -> data.CustomerMonth:
    # The second target exports the same job (one exporter scraped by two Prometheus jobs, or two exporters).
    status = [_status(BACKUP, "success")]
    counters = _counters(BACKUP, "failed", 3)
    short = [Series(s.labels, s.samples[:-1]) for s in status]  # one sample fewer: not the one kept
    return data.build(
        _fetcher(
            {
                "avepoint_customer_info": [INFO],
                "avepoint_backup_job_status": _at(status, "a", "x:9877") + _at(short, second, "y:9877", shift),
                "avepoint_backup_job_runs_total": _at(counters, "a", "x:9877") + _at(counters, second, "y:9877", shift),
            }
        ),
        "c1",
        NOVEMBER,
        now=DEC,
    )  # fmt: skip


def test_two_targets_at_the_same_time_are_not_summed() -> None:
    month = two_targets("b")
    (job,) = month.jobs
    assert job.outcomes["failed"] == 3
    (note,) = [n for n in month.notes if "more than one scrape target" in n]
    assert 'from job="a", instance="x:9877" (the most samples), not job="b", instance="y:9877"' in note


def test_targets_one_after_another_add_up() -> None:
    # A pod replaced: the new instance's series start after the old one's end, and both counters count.
    month = two_targets("a", shift=HOURS[-1] - HOURS[0] + 3600)
    (job,) = month.jobs
    assert job.outcomes["failed"] == 6
    assert not [n for n in month.notes if "more than one scrape target" in n]


def test_the_selector_is_added_to_every_query_and_checked() -> None:
    asked: list[str] = []

    def fetch(selector: str, before: float) -> list[Series]:
        asked.append(selector)
        return [INFO] if selector.startswith("avepoint_customer_info") else []

    matchers = data.parse_selector('{job="avepoint", instance=~"x:.*"}')
    assert data.customers(fetch, matchers) == ["c1"]
    data.build(fetch, "c1", NOVEMBER, matchers=matchers)
    assert asked[0] == 'avepoint_customer_info{job="avepoint",instance=~"x:.*"}'
    assert all(s.endswith('{customer_id="c1",job="avepoint",instance=~"x:.*"}') for s in asked[1:]), asked
    for bad, message in (
        ("job=avepoint", "is not label matchers such as"),
        ('job="a" instance="b"', "expected ',' between matchers"),
        (",", "holds no label matcher"),
        ('job="a', "is not label matchers"),
    ):
        with pytest.raises(UsageError, match=message):
            data.parse_selector(bad)


def test_a_bad_selector_is_a_usage_error_on_the_command_line(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    argv = ["report", "--prometheus.url", "http://127.0.0.1:9", "--month", "2026-11", "--out", str(tmp_path),
            "--prometheus.selector", "job=avepoint"]  # fmt: skip
    assert cli.main(argv) == 2
    assert "--prometheus.selector: 'job=avepoint' is not label matchers" in capfd.readouterr().err


def test_the_daily_chart_adds_up_to_the_table_from_the_counters() -> None:
    # The gauges saw one run; the counters counted 3 failed over two days (an increase at HOURS[30], day 2).
    counters = [
        Series(
            {**BACKUP, "outcome": o},
            ((HOURS[0], 0.0), (HOURS[10], 1.0 * (o == "failed")), (HOURS[30], 3.0 * (o == "failed"))),
        )
        for o in data.FINISHED
    ]
    month = data.build(
        _fetcher(
            {
                "avepoint_customer_info": [INFO],
                "avepoint_backup_job_status": [_status(BACKUP, "success")],
                "avepoint_backup_job_start_timestamp_seconds": [Series(BACKUP, ((HOURS[0], NOV + 60),))],
                "avepoint_backup_job_runs_total": counters,
            }
        ),
        "c1",
        NOVEMBER,
        now=DEC,
    )  # fmt: skip
    (job,) = month.jobs
    assert job.total == job.failed == 3 and len(job.runs) == 1
    counts = charts.daily_counts(month)
    assert counts["failed"][:3] == [1, 2, 0] and sum(v or 0 for v in counts["failed"]) == job.failed
    assert sum(v or 0 for values in counts.values() for v in values) == job.total
    # Without counters the chart counts the gauges' runs by date, as before.
    gauges = replace(job, per_day=None)
    assert sum(v or 0 for values in charts.daily_counts(replace(month, jobs=(gauges,))).values() for v in values) == 1


def test_ids_that_differ_only_in_replaced_characters_get_their_own_files() -> None:
    ids = ["a/b", "a:b", "a_b", "a b", "../a_b", ".a_b", "a\\b"]
    names = [html.filename(i, "2026-11") for i in ids]
    assert len(set(names)) == len(ids), names
    assert all(re.fullmatch(r"report-[A-Za-z0-9_][A-Za-z0-9_.-]*-2026-11", n) for n in names), names
    # A GUID (as AvePoint's ids are) keeps its plain name: the links and scripts that know it still work.
    guid = "72c1a876-f920-43a0-83ce-b3f3c6c7ae50"
    assert html.filename(guid, "2026-11") == f"report-{guid}-2026-11"
    assert html.filename("a_b", "2026-11") == "report-a_b-2026-11"


def test_the_longest_gap_counts_from_a_success_in_the_month_before() -> None:
    # Last success October 2 (the gauge's value all along), the next one on November 3: 32 days, as the
    # dashboard's max_over_time(time() - last_success) counts it; clipped at November 1 it was 2 days, and
    # the 27 days after November 3 were reported as the longest.
    oct2 = NOV - 30 * 86400
    nov3 = NOV + 2 * 86400
    times = [NOV + h * 3600 for h in range(1, 24 * 4)]
    failed = Series({**BACKUP, "outcome": "failed", "status": "Failed"}, tuple((t, 1.0) for t in times))
    month = data.build(
        _fetcher(
            {
                "avepoint_customer_info": [Series(INFO.labels, tuple((t, 1.0) for t in times))],
                "avepoint_backup_job_status": [failed],
                "avepoint_backup_job_last_success_timestamp_seconds": [
                    Series(BACKUP, tuple((t, oct2 if t < nov3 else nov3) for t in times))
                ],
            }
        ),
        "c1",
        NOVEMBER,
        now=DEC,
    )
    (job,) = month.jobs
    assert job.longest_gap == data.Gap(oct2, nov3, False)

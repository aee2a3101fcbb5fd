"""The report's records from query results: months and zones, runs from gauges and counters, gaps, holes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from exporter.report import data
from exporter.report.errors import NoData, UsageError
from exporter.report.prometheus import Series

UTCZ = ZoneInfo("UTC")
NOV = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
DEC = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-11", "2026/11", "2026-1", "", "2026-11-01"])
def test_a_malformed_month_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="is not a month as YYYY-MM"):
        data.parse_month(text, UTCZ, DEC + 86400)


def test_a_month_in_the_future_is_refused_and_the_current_one_ends_now() -> None:
    with pytest.raises(UsageError, match="2027-01 has not started yet"):
        data.parse_month("2027-01", UTCZ, DEC + 86400)
    current = data.parse_month("2026-12", UTCZ, DEC + 86400)
    assert (current.start, current.end, current.complete) == (DEC, DEC + 86400, False)
    past = data.parse_month("2026-11", UTCZ, DEC + 86400)
    assert (past.start, past.end, past.complete) == (NOV, DEC, True)


def test_previous_is_the_month_before_the_current_one_in_the_time_zone() -> None:
    assert data.parse_month("previous", UTCZ, DEC + 86400).month == "2026-11"
    # 2027-01-01 00:30 in Berlin is still 2026-12-31 in UTC.
    new_year = datetime(2026, 12, 31, 23, 30, tzinfo=UTC).timestamp()
    assert data.parse_month("previous", data.parse_zone("Europe/Berlin"), new_year).month == "2026-12"
    assert data.parse_month("previous", UTCZ, new_year).month == "2026-11"


def test_the_month_starts_at_midnight_of_its_time_zone() -> None:
    berlin = data.parse_month("2026-11", data.parse_zone("Europe/Berlin"), DEC + 86400)
    assert berlin.start == NOV - 3600  # CET is UTC+1 in November
    days = data.days(berlin)
    assert len(days) == 30 and days[0] == (NOV - 3600, NOV + 23 * 3600)
    with pytest.raises(UsageError, match="unknown time zone 'Nowhere/Land'"):
        data.parse_zone("Nowhere/Land")


def test_a_counter_increase_counts_across_a_reset() -> None:
    assert data.increase(((0, 3), (1, 5), (2, 1), (3, 2))) == 2 + 1 + 1
    assert data.increase(((0, 4),)) == 0


def test_longest_gap_open_at_the_start_without_an_earlier_success() -> None:
    gap = data.longest_gap([NOV + 10 * 3600, NOV + 12 * 3600], None, NOV, NOV + 14 * 3600)
    assert gap == data.Gap(NOV, NOV + 10 * 3600, True)
    gap = data.longest_gap([NOV + 10 * 3600], NOV - 3600, NOV, NOV + 30 * 3600)
    assert gap == data.Gap(NOV + 10 * 3600, NOV + 30 * 3600, False)
    assert data.longest_gap([], None, NOV, NOV) is None


def _status(outcome: str, times: list[float]) -> Series:
    labels = {"job_type": "Microsoft 365", "job_module": "Exchange Online", "outcome": outcome, "status": outcome}
    return Series(labels, tuple((t, 1.0) for t in times))


def test_a_run_seen_running_then_finished_across_a_restart_counts_once() -> None:
    starts = ((0.0, 100.0), (10.0, 100.0), (40.0, 100.0), (50.0, 200.0), (60.0, 200.0))
    ends = ((10.0, 130.0), (40.0, 130.0), (60.0, 230.0))
    status = [_status("running", [0.0, 50.0]), _status("failed", [10.0, 40.0]), _status("success", [60.0])]
    runs = data.runs_from_gauges(status, starts, ends)
    assert runs == (data.Run(100.0, 130.0, "failed", "failed"), data.Run(200.0, 230.0, "success", "success"))


def test_holes_are_stretches_longer_than_twice_the_usual_interval() -> None:
    times = [0.0, 60.0, 120.0, 180.0, 480.0, 540.0]
    assert data.holes(times, 600.0) == ((180.0, 480.0),)
    assert data.holes(times, 900.0) == ((180.0, 480.0), (540.0, 900.0))


def _fetcher(series: dict[str, list[Series]]) -> data.Fetch:
    def fetch(selector: str, before: float) -> list[Series]:
        return series.get(selector.split("{", 1)[0], [])

    return fetch


JOB = {"customer_id": "c1", "job_type": "Microsoft 365", "job_module": "Exchange Online"}
HOURS = [NOV + h * 3600 for h in range(1, 48)]
INFO = Series({"customer_id": "c1", "organization": "Org"}, tuple((t, 1.0) for t in HOURS))
SUCCESS = Series({**JOB, "outcome": "success", "status": "Finished"}, tuple((t, 1.0) for t in HOURS))


def test_counters_win_over_the_gauges_where_prometheus_has_them() -> None:
    counters = [
        Series({**JOB, "outcome": o}, ((HOURS[0], 0.0), (HOURS[10], v), (HOURS[20], 1.0), (HOURS[30], 1.0 + v)))
        for o, v in (("success", 4.0), ("failed", 2.0), ("canceled", 1.0), ("warning", 0.0), ("unknown", 0.0))
    ]
    month = data.build(
        _fetcher(
            {
                "avepoint_customer_info": [INFO],
                "avepoint_backup_job_status": [SUCCESS],
                "avepoint_backup_job_start_timestamp_seconds": [Series(JOB, ((HOURS[0], NOV),))],
                "avepoint_backup_job_runs_total": counters,
                "avepoint_backup_job_runs_seen_since_timestamp_seconds": [Series(JOB, ((HOURS[0], HOURS[0]),))],
            }
        ),
        "c1",
        data.parse_month("2026-11", UTCZ, DEC),
    )  # fmt: skip
    (job,) = month.jobs
    assert job.source == "counters"
    # A restart at HOURS[20] set every counter back to 1: counted as 1 new run, then v more after it.
    assert dict(job.outcomes) == {
        "success": 4 + 1 + 4,
        "failed": 2 + 1 + 2,
        "canceled": 1 + 0 + 1,  # 1 then 1 again: no reset seen, nothing lost
        "warning": 0 + 1,
        "unknown": 0 + 1,
    }
    assert job.ratio == pytest.approx(10 / (10 + 5 + 1))
    assert "no avepoint_backup_job_runs_total" not in " ".join(month.notes)
    assert month.name == "Org"


def test_gauges_only_say_what_they_cannot_measure() -> None:
    month = data.build(
        _fetcher(
            {
                "avepoint_customer_info": [INFO],
                "avepoint_backup_job_status": [SUCCESS],
                "avepoint_backup_job_start_timestamp_seconds": [Series(JOB, ((HOURS[0], NOV),))],
                "avepoint_backup_job_end_timestamp_seconds": [Series(JOB, ((HOURS[0], NOV + 60),))],
            }
        ),
        "c1",
        data.parse_month("2026-11", UTCZ, DEC),
        name="Shown name",
    )  # fmt: skip
    (job,) = month.jobs
    assert job.source == "gauges" and job.total == 1 and job.size == (None, None) and job.objects == (None, None)
    assert any("no avepoint_backup_job_runs_total" in n for n in month.notes)
    assert any("Protected data is not read" in n for n in month.notes)
    assert month.name == "Shown name"
    assert month.late_start is None
    # The last sample is 47 h into a 30-day month: the rest is a hole, said as missing.
    assert month.holes == ((HOURS[-1], DEC),)


def test_a_customer_without_samples_is_no_data() -> None:
    with pytest.raises(NoData, match="customer c9: Prometheus has no avepoint_customer_info samples in 2026-11"):
        data.build(_fetcher({}), "c9", data.parse_month("2026-11", UTCZ, DEC))


def test_a_promql_string_is_quoted() -> None:
    assert data.quote('a"b\\c\n') == '"a\\"b\\\\c\\n"'


def test_a_series_of_another_pod_is_the_same_module_at_its_newest_value() -> None:
    labels = {"customer_id": "c1", "service": "Cloud Backup for Microsoft 365", "module": "Exchange Online"}
    old = Series({**labels, "instance": "10.0.0.1:9877"}, ((HOURS[0], 100.0), (HOURS[5], 110.0)))
    new = Series({**labels, "instance": "10.0.0.2:9877"}, ((HOURS[6], 120.0), (HOURS[9], 130.0)))
    month = data.build(
        _fetcher(
            {
                "avepoint_customer_info": [INFO],
                "avepoint_protected_scanned_objects": [new, old],
                "avepoint_protected_objects": [old, new],
            }
        ),
        "c1",
        data.parse_month("2026-11", UTCZ, DEC),
    )
    assert month.protected == (data.Protected(labels["service"], labels["module"], 130.0, 130.0),)

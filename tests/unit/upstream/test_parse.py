"""exporter.upstream.parse: every accepted and rejected form, the outcome contract, rows, and properties."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter import codes
from exporter.model import Customer, Job, Outcome, ProtectedData, Subscription, Tenant
from exporter.upstream import parse
from exporter.upstream.parse import ParseError

KB, MB, GB, TB, PB = 2**10, 2**20, 2**30, 2**40, 2**50
T0 = datetime(2025, 9, 11, 3, 21, 16, tzinfo=UTC).timestamp()


# --- missing values ---------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [None, "", "   ", "\t\n", "N/A", "n/a", " N/A ", "NA", "na", "null", "NULL", "None", "none", "-", " - "]
)
def test_is_missing_true(raw: object) -> None:
    assert parse.is_missing(raw)


@pytest.mark.parametrize("raw", [0, 0.0, False, "0", "0 GB", "N/A/1 GB", "n.a.", "--", "nan", [], {}, "Not Finished"])
def test_is_missing_false(raw: object) -> None:
    assert not parse.is_missing(raw)


# --- counts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, 0),
        (12, 12),
        ("12", 12),
        (" 12 ", 12),
        ("0", 0),
        ("007", 7),
        ("1,234", 1234),
        ("1,234,567", 1234567),
        ("12.0", 12),
        ("12.000", 12),
        ("1,234.0", 1234),
        (12.0, 12),
        ("-0", 0),
        (2**63 - 1, 2**63 - 1),
        ("9223372036854775807", 2**63 - 1),
        (None, None),
        ("N/A", None),
        ("", None),
        ("  ", None),
    ],
)
def test_count_accepts(raw: object, expected: int | None) -> None:
    value = parse.count(raw)
    assert value == expected
    assert value is None or type(value) is int


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (-1, "negative"),
        ("-12", "negative"),
        ("- 12", "negative"),
        (-3.0, "negative"),
        ("12.5", "whole number"),
        (12.5, "whole number"),
        (math.nan, "whole number"),
        (math.inf, "whole number"),
        (True, "not a count"),
        (False, "not a count"),
        ("abc", "not a count"),
        ("12 apples", "not a count"),
        ("1,23", "not a count"),
        ("1,2345", "not a count"),
        (",123", "not a count"),
        ("1e3", "not a count"),
        ("0x10", "not a count"),
        ("1_000", "not a count"),
        ("+5", "not a count"),
        ("\u0661\u0662", "not a count"),  # Arabic-Indic digits: int() would take them
        ("12.", "not a count"),
        ([12], "not a count"),
        ({"value": 12}, "not a count"),
        (2**63, "out of range"),
        ("9223372036854775808", "out of range"),
        ("9" * 5000, "out of range"),  # int() would refuse more than 4300 digits itself
    ],
)
def test_count_rejects(raw: object, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse.count(raw)


# --- sizes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0 GB", 0),
        ("500 GB", 500 * GB),
        ("512 MB", 512 * MB),
        ("1.5 TB", 1.5 * TB),
        ("12 KB", 12 * KB),
        ("1024 B", 1024),
        ("3 bytes", 3),
        ("1 byte", 1),
        ("2GiB", 2 * GB),
        ("2 gib", 2 * GB),
        ("1 KiB", KB),
        ("3 MiB", 3 * MB),
        ("1 TiB", TB),
        ("2 PB", 2 * PB),
        ("1 PiB", PB),
        ("1,024.5 MB", 1024.5 * MB),
        ("1,024 kb", 1024 * KB),
        (" 7 Gb ", 7 * GB),
        ("0.5 GB", GB / 2),
        (".5 GB", GB / 2),
        ("1024", 1024),
        ("-0 GB", 0),
        (1024, 1024),
        (1.5, 1.5),
        (0, 0),
        (None, None),
        ("N/A", None),
        ("", None),
    ],
)
def test_size_bytes_accepts(raw: object, expected: float | None) -> None:
    value = parse.size_bytes(raw)
    assert value == expected
    assert value is None or type(value) is float


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0/1 GB", "ratio"),
        ("5 GB/1 TB", "ratio"),
        ("3/N/A", "ratio"),
        ("-1 GB", "negative"),
        ("- 5 MB", "negative"),
        (-1, "negative"),
        (-0.5, "negative"),
        (math.inf, "out of range"),
        (math.nan, "out of range"),
        (10**400, "out of range"),  # float() of it would raise OverflowError
        ("1" + "0" * 400 + " PB", "out of range"),
        (True, "not a size"),
        ("GB", "not a size"),
        ("1 XB", "not a size"),
        ("1 EB", "not a size"),
        ("1 G B", "not a size"),
        ("1.2.3 GB", "not a size"),
        ("1,23 GB", "not a size"),
        ("one GB", "not a size"),
        ("1 GB 2 MB", "not a size"),
        ("1e3 GB", "not a size"),
        ("\u0661 GB", "not a size"),
        ([1], "not a size"),
        ({}, "not a size"),
    ],
)
def test_size_bytes_rejects(raw: object, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse.size_bytes(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0/1 GB", (0, GB)),
        ("0 / 1 GB", (0, GB)),
        ("5 GB/1 TB", (5 * GB, TB)),
        ("512 MB/2 GB", (512 * MB, 2 * GB)),
        ("1.5/2 TB", (1.5 * TB, 2 * TB)),
        ("1 GB/2", (GB, 2 * GB)),  # the unit is shared whichever side carries it
        ("3/4", (3, 4)),  # no unit anywhere: bytes, as in size_bytes
        ("3/N/A", (3, None)),
        ("3 GB/N/A", (3 * GB, None)),
        ("N/A/1 GB", (None, GB)),
        ("N/A/N/A", (None, None)),
        ("-/1 TB", (None, TB)),
        ("1 GB", (GB, None)),
        ("1,024 MB", (1024 * MB, None)),
        (2048, (2048, None)),
        (None, (None, None)),
        ("N/A", (None, None)),
        ("", (None, None)),
    ],
)
def test_size_ratio_accepts(raw: object, expected: tuple[float | None, float | None]) -> None:
    assert parse.size_ratio(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "1/2/3",
        "a/b",
        "1 GB/x",
        "x/1 GB",
        "-1/2 GB",
        "1 GB/-2 GB",
        "1 XB/2 GB",
        "GB/GB",
        "1/2 GB/3",
        "garbage",
        "-1 GB",
        True,
        [1],
        {"used": 1},
    ],
)
def test_size_ratio_rejects(raw: object) -> None:
    with pytest.raises(ParseError):
        parse.size_ratio(raw)


# --- durations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("17m39s", 17 * 60 + 39),
        ("1h2m3s", 3723),
        ("2d3h", 2 * 86400 + 3 * 3600),
        ("45s", 45),
        ("1d2h3m4s", 93784),
        ("1h 2m", 3720),
        ("1d 2h 3m 4s", 93784),
        ("1 h 2 m", 3720),
        ("3.5s", 3.5),
        ("90m", 5400),
        ("1H2M3S", 3723),
        ("0s", 0),
        ("01:02:03", 3723),
        ("1:02:03", 3723),
        ("100:00:00", 360000),
        ("1.16:00:44", 86400 + 16 * 3600 + 44),
        ("00:00:05.123", 5.123),
        ("1.00:00:00.5", 86400.5),
        ("PT1H2M3S", 3723),
        ("P1DT2H", 93600),
        ("PT17M39S", 1059),
        ("PT0.5S", 0.5),
        ("P2D", 172800),
        ("pt1h", 3600),
        ("42", 42),
        ("42.5", 42.5),
        (" 7 ", 7),
        ("-0s", 0),
        (42, 42),
        (1.5, 1.5),
        (None, None),
        ("N/A", None),
        ("", None),
    ],
)
def test_duration_seconds_accepts(raw: object, expected: float | None) -> None:
    value = parse.duration_seconds(raw)
    assert value == pytest.approx(expected)
    assert value is None or type(value) is float


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("-5s", "negative"),
        ("-00:00:05", "negative"),
        (-1, "negative"),
        (math.inf, "out of range"),
        ("9" * 400 + "d", "out of range"),
        ("1:02:03:04", "not a duration"),  # .NET's "g" form is ambiguous: rejected
        ("1.24:00:00", "not a duration"),  # with a day part, hours stop at 23
        ("01:60:00", "not a duration"),
        ("01:00:60", "not a duration"),
        ("1:2:3", "not a duration"),
        ("17:39", "not a duration"),  # hh:mm or mm:ss? not guessed
        ("5ms", "not a duration"),
        ("3s2m", "not a duration"),
        ("1h1h", "not a duration"),
        ("h", "not a duration"),
        ("P", "not a duration"),
        ("PT", "not a duration"),
        ("P1Y", "not a duration"),
        ("P1M", "not a duration"),
        ("PT1H2", "not a duration"),
        ("1 2", "not a duration"),
        ("abc", "not a duration"),
        ("1d" + " " * 3000 + "x", "not a duration"),
        ("\u0661s", "not a duration"),
        (True, "not a duration"),
        ([1], "not a duration"),
    ],
)
def test_duration_seconds_rejects(raw: object, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse.duration_seconds(raw)


# --- timestamps -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-09-11T03:21:16Z", T0),
        ("2025-09-11T03:21:16z", T0),
        ("2025-09-11T03:21:16", T0),  # naive: UTC
        ("2025-09-11 03:21:16", T0),
        ("2025-09-11T03:21:16+00:00", T0),
        ("2025-09-11T05:21:16+02:00", T0),
        ("2025-09-11 05:21:16+02:00", T0),
        ("2025-09-11T05:21:16+0200", T0),
        ("2025-09-11T05:21:16+02", T0),
        ("2025-09-10T22:21:16-05:00", T0),
        ("2025-09-11T03:21:16 +00:00", T0),
        ("2025-09-11T03:21:16.5Z", T0 + 0.5),
        ("2025-09-11T03:21:16.123Z", T0 + 0.123),
        ("2025-09-11T03:21:16.1234567Z", T0 + 0.1234567),
        ("2025-09-11T03:21:16.123456789+00:00", T0 + 0.123456789),
        ("2025-09-11T03:21:16,5Z", T0 + 0.5),
        ("2025-09-11T03:21Z", T0 - 16),
        ("2025-09-11", T0 - 3 * 3600 - 21 * 60 - 16),
        ("  2025-09-11T03:21:16Z  ", T0),
        ("1971-01-01T00:00:00Z", 365 * 86400.0),
        ("0001-01-01T00:00:00", None),  # .NET DateTime.MinValue
        ("0001-01-01T00:00:00Z", None),
        ("0001-01-01T00:00:00+14:00", None),
        ("1970-01-01T00:00:00Z", None),
        ("0000-00-00 00:00:00", None),
        (None, None),
        ("N/A", None),
        ("", None),
    ],
)
def test_timestamp_accepts(raw: object, expected: float | None) -> None:
    value = parse.timestamp(raw)
    assert value == pytest.approx(expected, abs=1e-6)
    assert value is None or type(value) is float


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("2025-02-30T00:00:00Z", "not a valid date"),
        ("2025-13-01", "not a valid date"),
        ("2025-09-11T24:00:00Z", "not a valid date"),
        ("2025-09-11T03:61:00Z", "not a valid date"),
        ("2025-09-11T03:21:16+24:00", "offset"),
        ("2025-09-11T03:21:16+02:60", "offset"),
        ("2025-09-11T03:21:16Q", "ISO 8601"),
        ("2025-09-11Z", "ISO 8601"),
        ("2025-9-11", "ISO 8601"),
        ("11/09/2025", "ISO 8601"),
        ("20250911T032116Z", "ISO 8601"),
        ("2025-W37-4", "ISO 8601"),
        ("2025-09-11T03", "ISO 8601"),
        ("yesterday", "ISO 8601"),
        ("\u0662025-09-11", "ISO 8601"),
        (1757560876, "not a time string"),  # seconds or milliseconds? not guessed
        (1757560876.5, "not a time string"),
        (True, "not a time string"),
        ([], "not a time string"),
    ],
)
def test_timestamp_rejects(raw: object, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse.timestamp(raw)


# --- errors -----------------------------------------------------------------------


def test_parse_error_is_value_error() -> None:
    assert issubclass(ParseError, ValueError)


@pytest.mark.parametrize(
    "parser",
    [parse.count, parse.size_bytes, parse.size_ratio, parse.duration_seconds, parse.timestamp],
)
def test_parse_error_quotes_a_bounded_prefix_of_the_value(parser: Callable[[object], object]) -> None:
    with pytest.raises(ParseError) as caught:
        parser("x" * 10_000)
    message = str(caught.value)
    assert "'xxxxxxxxxx" in message
    assert message.endswith("...")
    assert len(message) < 120


def test_pathological_input_is_fast() -> None:
    # Guards against regexes that backtrack in polynomial time on long runs.
    nasty = [
        "1d" + " " * 5000 + "x",
        "1" * 5000 + "x",
        "1," * 3000 + "x",
        "1/" * 2000,
        "1" + " " * 5000 + "x",
        "P" + "1D" * 2000,
        "0" * 5000 + ":00:00x",
    ]
    started = time.perf_counter()
    for raw in nasty:
        for parser in (parse.count, parse.size_bytes, parse.size_ratio, parse.duration_seconds, parse.timestamp):
            with contextlib.suppress(ParseError):
                parser(raw)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
    ("parser", "raw"),
    [
        (parse.size_bytes, "-0 GB"),
        (parse.size_bytes, -0.0),
        (parse.duration_seconds, "-0s"),
        (parse.duration_seconds, "-00:00:00"),
        (parse.duration_seconds, -0.0),
    ],
)
def test_negative_zero_is_plain_zero(parser: Callable[[object], float | None], raw: object) -> None:
    value = parser(raw)
    assert value == 0
    assert value is not None
    assert math.copysign(1.0, value) == 1.0  # "-0" in the exposition would puzzle readers


# --- statuses and outcomes --------------------------------------------------------

# The metric contract's table (design.md), spelled as it spells the statuses.
CONTRACT = {
    Outcome.SUCCESS: ["Finished", "Successful", "Succeeded", "Completed"],
    Outcome.WARNING: ["Finished with exception", "Partially succeeded", "Warning"],
    Outcome.FAILED: ["Failed", "Failed to start", "Rejected"],
    Outcome.RUNNING: ["Running", "In progress", "Pending", "Not Finished"],
    Outcome.CANCELED: ["Canceled", "Cancelled", "Stopped"],
    Outcome.NOT_RUN: ["Skipped", "Not started", "Not scanned", "Disabled", "Waiting for configuration", "None"],
}
CONTRACT_ROWS = [(status, result) for result, names in CONTRACT.items() for status in names]


def test_default_outcomes_is_exactly_the_contract_table() -> None:
    expected = {codes.normalize_status(status): result for status, result in CONTRACT_ROWS}
    assert dict(parse.DEFAULT_OUTCOMES) == expected
    assert all(codes.normalize_status(key) == key for key in parse.DEFAULT_OUTCOMES)


def test_default_outcomes_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        parse.DEFAULT_OUTCOMES["finished"] = Outcome.FAILED  # type: ignore[index]


def _spellings(status: str) -> list[str]:
    return [
        status,
        status.upper(),
        status.lower(),
        f"  {status}\t",
        status.replace(" ", "_"),
        status.replace(" ", "-").upper(),
        status.replace(" ", "  \n "),
    ]


@pytest.mark.parametrize(("status", "expected"), CONTRACT_ROWS)
def test_outcome_of_every_contract_status(status: str, expected: Outcome) -> None:
    for spelling in _spellings(status):
        assert parse.outcome(spelling) is expected, spelling


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Finished", "finished"),
        ("  Finished   with\texception ", "finished with exception"),
        ("FAILED_TO_START", "failed to start"),
        ("in-progress", "in progress"),
        ("Not _- Finished", "not finished"),
        ("", ""),
        ("__", ""),
        ("Stra\u00dfe", "strasse"),
    ],
)
def test_normalize_status(status: str, expected: str) -> None:
    assert codes.normalize_status(status) == expected


@pytest.mark.parametrize("status", ["", "Working", "N/A", "3", "Finished!", "Finishedwithexception", "Success"])
def test_outcome_unknown(status: str) -> None:
    assert parse.outcome(status) is Outcome.UNKNOWN


@pytest.mark.parametrize(
    ("status", "overrides", "expected"),
    [
        ("Not Finished", {"not finished": Outcome.FAILED}, Outcome.FAILED),
        ("not_finished", {"  NOT-Finished ": Outcome.FAILED}, Outcome.FAILED),
        ("Working", {"working": Outcome.RUNNING}, Outcome.RUNNING),
        ("Multiple issues found", {"Multiple issues found": Outcome.WARNING}, Outcome.WARNING),
        ("3", {"3": Outcome.FAILED}, Outcome.FAILED),
        ("Finished", {"Failed": Outcome.WARNING}, Outcome.SUCCESS),  # others stay default
        ("Finished", {}, Outcome.SUCCESS),
        ("Finished", None, Outcome.SUCCESS),
        ("Whatever", {"Failed": Outcome.WARNING}, Outcome.UNKNOWN),
    ],
)
def test_outcome_overrides(status: str, overrides: dict[str, Outcome] | None, expected: Outcome) -> None:
    assert parse.outcome(status, overrides) is expected


# --- customers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected", "errors"),
    [
        (
            {
                "id": "0b6c",
                "organization": "Contoso",
                "ownerEmail": "a@b.c",
                "jobStatus": "Working",
                "countryOrRegion": "US",
            },
            Customer("0b6c", "Contoso", "US", "Working"),
            [],
        ),
        (
            {"id": " 0b6c\n", "organization": ' Contoso "Ltd" \\ ', "jobStatus": " N/A ", "countryOrRegion": "N/A"},
            Customer("0b6c", 'Contoso "Ltd" \\', "N/A", "N/A"),
            [],
        ),
        # v3 sends codes; the customer status table names them, an unknown code stays a number.
        ({"id": "c", "jobStatus": 3}, Customer("c", "", "", "Waiting for configuration"), []),
        ({"id": "c", "jobStatus": 99}, Customer("c", "", "", "99"), []),
        ({"id": "c", "jobStatus": None, "organization": None}, Customer("c", "", "", ""), []),
        (
            {"id": "c", "organization": ["x"], "countryOrRegion": 1.5, "jobStatus": True},
            Customer("c", "", "", ""),
            ["organization", "countryOrRegion", "jobStatus"],
        ),
        ({}, None, ["id"]),
        ({"id": ""}, None, ["id"]),
        ({"id": "   ", "organization": "Contoso"}, None, ["id"]),
        ({"id": None}, None, ["id"]),
        ({"id": 42}, None, ["id"]),
        ({"id": ["c"], "organization": ["x"]}, None, ["id"]),
    ],
)
def test_customer(row: dict[str, object], expected: Customer | None, errors: list[str]) -> None:
    assert parse.customer(row) == (expected, errors)


def test_customer_accepts_any_mapping() -> None:
    record, errors = parse.customer(MappingProxyType({"id": "c"}))
    assert record == Customer("c", "", "", "")
    assert errors == []


# --- jobs -------------------------------------------------------------------------

NEVER_RUN_ROW: dict[str, object] = {
    "jobType": "Microsoft 365",
    "jobModule": "SharePoint Online",
    "status": "Not Finished",
    "jobId": "N/A",
    "name": "N/A",
    "totalCount": "0",
    "failedCount": "0",
    "successfulCount": "0",
    "skippedCount": "0",
    "warningCount": "0",
    "backupSize": "0 GB",
    "startTime": "N/A",
    "endTime": "N/A",
    "lastModifyTime": "N/A",
    "jobDuration": "N/A",
}

FULL_ROW: dict[str, object] = {
    "jobType": "Microsoft 365",
    "jobModule": "Exchange Online",
    "status": "Finished with exception",
    "jobId": "5c1e7f0a-2b7d-4c55-9a43-1f0c2d3e4f5a",
    "name": "Exchange Online backup",
    "totalCount": "1,234",
    "failedCount": "2",
    "successfulCount": "1230",
    "skippedCount": "1",
    "warningCount": "1",
    "backupSize": "1.5 GB",
    "jobDuration": "17m39s",
    "startTime": "2025-09-11T03:21:16Z",
    "endTime": "2025-09-11T03:38:55Z",
    "lastModifyTime": "2025-09-11T03:38:55.1234567Z",
}


def test_job_never_run_row() -> None:
    record, errors = parse.job(NEVER_RUN_ROW)
    assert errors == []
    assert record == Job(
        job_type="Microsoft 365",
        job_module="SharePoint Online",
        job_id=None,
        name=None,
        status="Not Finished",
        outcome=Outcome.NOT_RUN,
        objects=0,
        failed_objects=0,
        successful_objects=0,
        skipped_objects=0,
        warning_objects=0,
        size_bytes=0.0,
        never_ran=True,
    )


def test_job_full_row() -> None:
    record, errors = parse.job(FULL_ROW)
    assert errors == []
    assert record is not None
    assert record.last_modified == pytest.approx(T0 + 1059.1234567)
    assert replace(record, last_modified=None) == Job(
        job_type="Microsoft 365",
        job_module="Exchange Online",
        job_id="5c1e7f0a-2b7d-4c55-9a43-1f0c2d3e4f5a",
        name="Exchange Online backup",
        status="Finished with exception",
        outcome=Outcome.WARNING,
        objects=1234,
        failed_objects=2,
        successful_objects=1230,
        skipped_objects=1,
        warning_objects=1,
        size_bytes=1.5 * GB,
        duration_seconds=1059.0,
        start_time=T0,
        end_time=T0 + 1059,
    )


def test_job_row_with_integer_counts_as_before_february_2025() -> None:
    row = {**FULL_ROW, "totalCount": 1234, "failedCount": 2, "successfulCount": 1230}
    record, errors = parse.job(row)
    assert errors == []
    assert record is not None
    assert (record.objects, record.failed_objects, record.successful_objects) == (1234, 2, 1230)


def test_job_accepts_any_mapping() -> None:
    record, errors = parse.job(MappingProxyType(FULL_ROW))
    assert errors == []
    assert record is not None
    assert record.outcome is Outcome.WARNING


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, Outcome.NOT_RUN),
        ({"status": "Finished"}, Outcome.NOT_RUN),
        ({"status": "Failed"}, Outcome.NOT_RUN),
        ({"status": "whatever"}, Outcome.NOT_RUN),
        ({"jobId": None, "startTime": None}, Outcome.NOT_RUN),
        ({"jobId": "", "startTime": "  "}, Outcome.NOT_RUN),
        ({"status": "Failed", "endTime": "2025-09-11T03:21:16Z"}, Outcome.NOT_RUN),
        ({"jobId": "j1"}, Outcome.RUNNING),
        ({"startTime": "2025-09-11T03:21:16Z"}, Outcome.RUNNING),
        ({"jobId": "j1", "status": "Failed"}, Outcome.FAILED),
        ({"startTime": "2025-09-11T03:21:16Z", "status": "Finished"}, Outcome.SUCCESS),
        # An unreadable start time is not a missing one: the row did have a job.
        ({"startTime": "garbage", "status": "Finished"}, Outcome.SUCCESS),
    ],
)
def test_job_without_job_id_and_start_time_is_not_run(changes: dict[str, object], expected: Outcome) -> None:
    record, _ = parse.job({**NEVER_RUN_ROW, **changes})
    assert record is not None
    assert record.outcome is expected


def test_job_missing_keys_entirely() -> None:
    record, errors = parse.job({"jobType": "Salesforce", "jobModule": "Salesforce"})
    assert errors == []
    assert record == Job("Salesforce", "Salesforce", None, None, "", Outcome.NOT_RUN, never_ran=True)


def test_job_overrides_win() -> None:
    row = {**FULL_ROW, "status": "Finished"}
    record, _ = parse.job(row, {"FINISHED": Outcome.WARNING})
    assert record is not None
    assert record.outcome is Outcome.WARNING


def test_job_overrides_do_not_beat_the_no_job_rule() -> None:
    record, _ = parse.job(NEVER_RUN_ROW, {"Not Finished": Outcome.FAILED})
    assert record is not None
    assert record.outcome is Outcome.NOT_RUN


def test_job_reports_unreadable_fields_and_keeps_the_rest() -> None:
    row = {
        **FULL_ROW,
        "name": ["not", "a", "name"],
        "totalCount": "lots",
        "failedCount": "-1",
        "warningCount": True,
        "backupSize": "0/1 GB",
        "jobDuration": "1:02:03:04",
        "startTime": "2025-02-30T00:00:00Z",
        "endTime": 1757560876,
    }
    record, errors = parse.job(row)
    assert errors == [
        "name",
        "totalCount",
        "failedCount",
        "warningCount",
        "backupSize",
        "jobDuration",
        "startTime",
        "endTime",
    ]
    assert record is not None
    assert record.name is None
    assert (record.objects, record.failed_objects, record.warning_objects) == (None, None, None)
    assert (record.size_bytes, record.duration_seconds) == (None, None)
    assert (record.start_time, record.end_time) == (None, None)
    # What did parse survives.
    assert record.successful_objects == 1230
    assert record.skipped_objects == 1
    assert record.job_id == FULL_ROW["jobId"]
    assert record.outcome is Outcome.WARNING


def test_job_status_forms() -> None:
    for raw, expected in [(" Failed ", "Failed"), (3, "Failed"), (99, "99"), (None, ""), ("N/A", "N/A")]:
        record, errors = parse.job({**FULL_ROW, "status": raw})
        assert record is not None
        assert (record.status, errors) == (expected, [])
    record, errors = parse.job({**FULL_ROW, "status": {"code": 3}})
    assert record is not None
    assert (record.status, record.outcome, errors) == ("", Outcome.UNKNOWN, ["status"])


def test_job_labels_are_stripped_but_never_escaped() -> None:
    row = {
        **FULL_ROW,
        "jobType": '  Microsoft 365 "quoted" \\ ',
        "jobModule": "\tOne\nDrive ",
        "name": ' {name="x"} ',
        "jobId": 123,
    }
    record, errors = parse.job(row)
    assert errors == []
    assert record is not None
    assert record.job_type == 'Microsoft 365 "quoted" \\'
    assert record.job_module == "One\nDrive"
    assert record.name == '{name="x"}'
    assert record.job_id == "123"


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"jobType": None}, ["jobType"]),
        ({"jobType": ""}, ["jobType"]),
        ({"jobType": "   "}, ["jobType"]),
        ({"jobType": True}, ["jobType"]),
        ({"jobModule": 2**40}, ["jobModule"]),
        ({"jobModule": 302.0}, ["jobModule"]),
        ({"jobModule": ["SharePoint Online"]}, ["jobModule"]),
        ({"jobType": None, "jobModule": None}, ["jobType", "jobModule"]),
    ],
)
def test_job_requires_type_and_module(changes: dict[str, object], errors: list[str]) -> None:
    row = {**FULL_ROW, **changes}
    assert parse.job(row) == (None, errors)
    row = {key: value for key, value in row.items() if value is not None}
    assert parse.job(row) == (None, errors)


# --- properties -------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
# Text near the accepted forms, so that the properties also reach the success paths.
near_miss = st.from_regex(
    r"\s?-?[0-9]{0,6}([,.:/][0-9]{0,4}){0,3}\s?(|[dhmsDHMS]|[KMGTP]i?B|bytes|N/A)"
    r"([0-9]{1,2}[hms]){0,2}\s?",
    fullmatch=True,
) | st.from_regex(r"(P|PT)[0-9.]{0,4}[DHMS]?|[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.Z+]{0,14}", fullmatch=True)
anything = json_values | near_miss


def _check_quantity(value: object) -> None:
    assert type(value) is float
    assert math.isfinite(value)
    assert math.copysign(1.0, value) == 1.0  # not even -0.0


def _outcome_of(parser: Callable[[object], object], raw: object) -> object:
    try:
        return parser(raw)
    except ParseError:
        return ParseError


@given(st.text() | anything)
def test_count_never_fails_unexpectedly(raw: object) -> None:
    value = _outcome_of(parse.count, raw)
    if value is not ParseError and value is not None:
        assert type(value) is int
        assert 0 <= value <= 2**63 - 1


@given(st.text() | anything)
def test_size_bytes_never_fails_unexpectedly(raw: object) -> None:
    value = _outcome_of(parse.size_bytes, raw)
    if value is not ParseError and value is not None:
        _check_quantity(value)


@given(st.text() | anything)
def test_size_ratio_never_fails_unexpectedly(raw: object) -> None:
    value = _outcome_of(parse.size_ratio, raw)
    if value is not ParseError:
        assert isinstance(value, tuple)
        assert len(value) == 2
        for side in value:
            if side is not None:
                _check_quantity(side)


@given(st.text() | anything)
def test_duration_seconds_never_fails_unexpectedly(raw: object) -> None:
    value = _outcome_of(parse.duration_seconds, raw)
    if value is not ParseError and value is not None:
        _check_quantity(value)


@given(st.text() | anything)
def test_timestamp_never_fails_unexpectedly(raw: object) -> None:
    value = _outcome_of(parse.timestamp, raw)
    if value is not ParseError and value is not None:
        _check_quantity(value)


JOB_FIELDS = list(FULL_ROW)
CUSTOMER_FIELDS = ["id", "organization", "ownerEmail", "jobStatus", "countryOrRegion"]


@given(st.dictionaries(st.sampled_from(JOB_FIELDS), anything), st.sampled_from([None, {}, {"x": Outcome.FAILED}]))
def test_job_never_raises(row: dict[str, object], overrides: dict[str, Outcome] | None) -> None:
    record, errors = parse.job(row, overrides)
    assert set(errors) <= set(JOB_FIELDS)
    assert len(errors) == len(set(errors))
    if record is None:
        assert errors
        assert set(errors) <= {"jobType", "jobModule"}
    else:
        assert isinstance(record, Job)
        assert record.job_type and record.job_module
        assert isinstance(record.outcome, Outcome)


@given(st.dictionaries(st.sampled_from(CUSTOMER_FIELDS), anything))
def test_customer_never_raises(row: dict[str, object]) -> None:
    record, errors = parse.customer(row)
    assert set(errors) <= set(CUSTOMER_FIELDS)
    if record is None:
        assert errors == ["id"]
    else:
        assert record.id
        assert all(isinstance(v, str) for v in (record.organization, record.country, record.status))


@given(st.integers(0, 400), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_duration_forms_agree(days: int, hours: int, minutes: int, seconds: int) -> None:
    expected = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    forms = [
        f"{days}d{hours}h{minutes}m{seconds}s",
        f"{days * 24 + hours:02d}:{minutes:02d}:{seconds:02d}",
        f"{days}.{hours:02d}:{minutes:02d}:{seconds:02d}",
        f"P{days}DT{hours}H{minutes}M{seconds}S",
        str(expected),
    ]
    assert [parse.duration_seconds(form) for form in forms] == [expected] * len(forms)


@given(
    st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(9998, 12, 31)),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)
def test_timestamp_reads_isoformat(moment: datetime, offset_minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    # Relative tolerance: around year 9999 one float step is about 3e-5 s.
    assert parse.timestamp(aware.isoformat()) == pytest.approx(aware.timestamp(), rel=1e-15, abs=1e-6)
    naive_as_utc = moment.replace(tzinfo=UTC).timestamp()
    assert parse.timestamp(moment.isoformat()) == pytest.approx(naive_as_utc, rel=1e-15, abs=1e-6)


UNITS = {
    "": 1,
    "B": 1,
    "bytes": 1,
    "KB": KB,
    "KiB": KB,
    "MB": MB,
    "MiB": MB,
    "GB": GB,
    "GiB": GB,
    "TB": TB,
    "TiB": TB,
    "PB": PB,
    "PiB": PB,
}


@given(st.integers(0, 10**12), st.sampled_from(sorted(UNITS)))
def test_size_forms_agree(number: int, unit: str) -> None:
    expected = float(number * UNITS[unit])
    assert parse.size_bytes(f"{number}{unit}") == expected
    assert parse.size_bytes(f"{number:,} {unit.upper()}") == expected
    assert parse.size_ratio(f"0/{number} {unit}") == (0.0, expected)


@given(st.integers(0, 2**63 - 1))
def test_count_forms_agree(number: int) -> None:
    assert parse.count(str(number)) == number
    assert parse.count(f" {number:,} ") == number
    assert parse.count(f"{number}.0") == number


# --- v3 codes -----------------------------------------------------------------------

TABLES = {
    "jobType": codes.JOB_TYPES,
    "jobModule": codes.JOB_MODULES,
    "status": codes.JOB_STATUSES,
}


@pytest.mark.parametrize(
    ("field", "number", "name"),
    [(field, number, name) for field, table in TABLES.items() for number, name in table.items()],
)
def test_job_codes_become_the_documented_names(field: str, number: int, name: str) -> None:
    record, errors = parse.job({**FULL_ROW, field: number})
    assert errors == []
    assert record is not None
    assert {"jobType": record.job_type, "jobModule": record.job_module, "status": record.status}[field] == name


def test_job_codes_cover_every_status_the_simulator_and_legacy_use() -> None:
    # Statuses named alike in both backends share the contract's outcome.
    for number, name in codes.JOB_STATUSES.items():
        record, _ = parse.job({**FULL_ROW, "status": number})
        assert record is not None
        assert record.outcome is parse.outcome(name)
    assert parse.outcome(codes.JOB_STATUSES[4]) is Outcome.WARNING
    assert parse.outcome(codes.JOB_STATUSES[13]) is Outcome.NOT_RUN


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"jobType": 7, "jobModule": 302, "status": 2}, ("Microsoft 365", "SharePoint Online", "Finished")),
        ({"jobType": 15, "jobModule": 601, "status": 2}, ("Salesforce", "601", "Finished")),
        ({"jobType": 99, "jobModule": 399, "status": 42}, ("99", "399", "42")),
        ({"jobType": -1, "jobModule": 0, "status": 0}, ("-1", "None", "None")),
        ({"jobType": 2**31 - 1, "jobModule": 304, "status": 1}, (str(2**31 - 1), "Microsoft 365 Groups", "Running")),
    ],
)
def test_unknown_codes_are_kept_as_numbers(changes: dict[str, object], expected: tuple[str, str, str]) -> None:
    record, errors = parse.job({**FULL_ROW, **changes})
    assert errors == []
    assert record is not None
    assert (record.job_type, record.job_module, record.status) == expected


def test_unknown_status_code_is_an_unknown_outcome() -> None:
    record, _ = parse.job({**FULL_ROW, "status": 42})
    assert record is not None
    assert (record.status, record.outcome) == ("42", Outcome.UNKNOWN)
    record, _ = parse.job({**FULL_ROW, "status": 42}, {"42": Outcome.FAILED})
    assert record is not None
    assert record.outcome is Outcome.FAILED


def test_codes_out_of_range_are_errors_not_crashes() -> None:
    assert parse.job({**FULL_ROW, "jobType": 2**31}) == (None, ["jobType"])
    record, errors = parse.job({**FULL_ROW, "status": -(2**63)})
    assert record is not None
    assert (record.status, errors) == ("", ["status"])
    assert parse.customer({"id": "c", "managementMode": 10**5000}) == (Customer("c", "", "", ""), ["managementMode"])


@pytest.mark.parametrize(
    ("table", "text", "expected"),
    [
        (codes.JOB_TYPES, "Microsoft 365", 7),
        (codes.JOB_TYPES, " microsoft   365 ", 7),
        (codes.JOB_TYPES, "IAAS + PAAS", 12),
        (codes.JOB_TYPES, "15", 15),
        (codes.JOB_MODULES, "None", 0),
        (codes.JOB_MODULES, "601", 601),
        (codes.JOB_MODULES, "-4", -4),
        (codes.JOB_MODULES, "OneDrive for Business", None),
        (codes.JOB_MODULES, "", None),
        (codes.JOB_MODULES, "1e3", None),
        (codes.JOB_MODULES, "99999999999", None),
        (codes.JOB_MODULES, "\u0661", None),
        (codes.JOB_STATUSES, "finished with exception", 4),
    ],
)
def test_code_of_a_name(table: dict[int, str], text: str, expected: int | None) -> None:
    assert codes.code(table, text) == expected


def test_code_tables_are_one_to_one() -> None:
    for table in (codes.JOB_TYPES, codes.JOB_MODULES, codes.JOB_STATUSES, codes.CUSTOMER_STATUSES):
        assert len({name.casefold() for name in table.values()}) == len(table)
        assert all(codes.code(table, name) == number for number, name in table.items())


# --- v3 customers -------------------------------------------------------------------

V3_CUSTOMER: dict[str, object] = {
    "id": "0b6c",
    "organization": "Contoso",
    "ownerEmail": "it@contoso.example",
    "jobStatus": 1,
    "countryOrRegion": "US",
    "managementMode": 1,
    "tenants": [{"id": "t1", "name": "contoso.onmicrosoft.com"}, {"id": "t2", "name": None}],
}


def test_v3_customer() -> None:
    record, errors = parse.customer(V3_CUSTOMER)
    assert errors == []
    assert record == Customer(
        "0b6c",
        "Contoso",
        "US",
        "Working",
        management_mode="Partner management of tenant",
        tenants=(Tenant("t1", "contoso.onmicrosoft.com"), Tenant("t2", "")),
    )


@pytest.mark.parametrize(("number", "name"), [*codes.CUSTOMER_STATUSES.items()])
def test_v3_customer_statuses(number: int, name: str) -> None:
    record, _ = parse.customer({"id": "c", "jobStatus": number})
    assert record is not None
    assert record.status == name


@pytest.mark.parametrize(
    ("changes", "mode", "tenants", "errors"),
    [
        ({"managementMode": 0}, "Customer management of tenant", None, []),
        ({"managementMode": 2}, "To be configured", None, []),
        ({"managementMode": 7}, "7", None, []),
        ({"managementMode": "Partner managed"}, "Partner managed", None, []),
        ({"managementMode": None, "tenants": None}, "", (), []),
        ({"managementMode": True}, "", None, ["managementMode"]),
        ({"tenants": []}, "Partner management of tenant", (), []),
        ({"tenants": "t1"}, "Partner management of tenant", (), ["tenants"]),
        ({"tenants": {"id": "t1"}}, "Partner management of tenant", (), ["tenants"]),
        (
            {"tenants": [{"id": "t1"}, "t2", {"name": "x"}, {"id": "N/A"}]},
            "Partner management of tenant",
            (Tenant("t1"),),
            ["tenants"],
        ),
        ({"tenants": [{"id": 5, "name": ["x"]}]}, "Partner management of tenant", (Tenant("5"),), ["tenants"]),
    ],
)
def test_v3_customer_fields(
    changes: dict[str, object], mode: str, tenants: tuple[Tenant, ...] | None, errors: list[str]
) -> None:
    record, found = parse.customer({**V3_CUSTOMER, **changes})
    assert found == errors
    assert record is not None
    assert record.management_mode == mode
    if tenants is not None:
        assert record.tenants == tenants


def test_legacy_customer_has_no_v3_fields() -> None:
    record, _ = parse.customer({"id": "c", "jobStatus": "Working"})
    assert record == Customer("c", "", "", "Working", "", ())


# --- protected data -----------------------------------------------------------------

PROTECTED_ROW: dict[str, object] = {
    "customerId": "c",
    "customer": "it@contoso.example",
    "serviceType": "Microsoft 365",
    "serviceModule": "Exchange Online",
    "totalScannedObjects": 1200,
    "totalProtectedObjects": 1100,
    "dataSizeStoredInAvePoint": "12.5 GB",
    "dataSizeStoredInBYOS": "N/A",
}


def test_protected() -> None:
    assert parse.protected(PROTECTED_ROW) == (
        ProtectedData("Microsoft 365", "Exchange Online", 1200, 1100, 12.5 * GB, None),
        [],
    )


@pytest.mark.parametrize(
    ("changes", "expected", "errors"),
    [
        (
            {"totalScannedObjects": "1,200", "dataSizeStoredInAvePoint": "N/A", "dataSizeStoredInBYOS": "2 TB"},
            ProtectedData("Microsoft 365", "Exchange Online", 1200, 1100, None, 2 * TB),
            [],
        ),
        (
            {"totalScannedObjects": "lots", "dataSizeStoredInBYOS": "0/1 GB", "totalProtectedObjects": None},
            ProtectedData("Microsoft 365", "Exchange Online", None, None, 12.5 * GB, None),
            ["totalScannedObjects", "dataSizeStoredInBYOS"],
        ),
        (
            {"serviceType": 7, "serviceModule": " OneDrive "},
            ProtectedData("7", "OneDrive", 1200, 1100, 12.5 * GB, None),
            [],
        ),
        ({"serviceType": None}, None, ["serviceType"]),
        ({"serviceType": "", "serviceModule": ["x"]}, None, ["serviceType", "serviceModule"]),
    ],
)
def test_protected_forms(changes: dict[str, object], expected: ProtectedData | None, errors: list[str]) -> None:
    assert parse.protected({**PROTECTED_ROW, **changes}) == (expected, errors)


# --- subscriptions ------------------------------------------------------------------

PRODUCT: dict[str, object] = {
    "service": "Cloud Backup for Microsoft 365",
    "subscriptionModel": "User-based",
    "purchasedUserSeats": "250",
    "purchasedUnits": "N/A",
    "microsoftLicenseAssigned": "200",
    "microsoftLicenseAvailable": "50",
    "purchasedCapacity": "N/A",
    "protectedCapacity": "N/A",
    "storage": "AvePoint Storage",
    "retention": "Unlimited",
    "consumedStorage": "120.5 GB",
    "expirationDate": "2026-03-01",
    "change": "N/A",
    "source": "Partner",
    "paymentType": "Annual",
    "subscriptionName": "Cloud Backup for Microsoft 365 (User-based)",
    "package": "N/A",
    "contractEndDate": "N/A",
}
MARCH_1 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


def test_subscriptions() -> None:
    element = {
        "customerId": "c",
        "organization": "Contoso",
        "customer": "x",
        "tenantId": "t1,t2",
        "products": [PRODUCT],
    }
    assert parse.subscriptions(element) == (
        [
            Subscription(
                customer_id="c",
                service="Cloud Backup for Microsoft 365",
                subscription_name="Cloud Backup for Microsoft 365 (User-based)",
                model="User-based",
                storage="AvePoint Storage",
                expiry=MARCH_1,
                contract_end=None,
                purchased_seats=250,
                purchased_units=None,
                licenses_assigned=200,
                licenses_available=50,
                capacity_purchased_bytes=None,
                capacity_protected_bytes=None,
                consumed_bytes=120.5 * GB,
            )
        ],
        [],
    )


@pytest.mark.parametrize(
    ("changes", "fields", "errors"),
    [
        # v3 spells dates in ISO 8601 and the purchased capacity like "0/1 GB".
        ({"expirationDate": "2026-03-01T00:00:00Z"}, {"expiry": MARCH_1}, []),
        (
            # The v3 services sample (AvePoint/cloud-api docs/elements/general/service subscription/
            # get-all-services.md): consumedStorage "N/A" is left out, never the "0" of "0/1 GB",
            # whose meaning no page documents.
            {"purchasedCapacity": "0/1 GB", "consumedStorage": "N/A"},
            {"capacity_purchased_bytes": GB, "consumed_bytes": None},
            [],
        ),
        (
            {"purchasedCapacity": "0/1 GB"},  # consumedStorage, when given, is the consumed figure
            {"capacity_purchased_bytes": GB, "consumed_bytes": 120.5 * GB},
            [],
        ),
        (
            {"purchasedCapacity": "512 MB/2 TB", "consumedStorage": "garbage"},
            {"capacity_purchased_bytes": 2 * TB, "consumed_bytes": None},
            ["consumedStorage"],
        ),
        ({"purchasedCapacity": "1024 GB"}, {"capacity_purchased_bytes": 1024 * GB}, []),
        ({"purchasedCapacity": "3/N/A"}, {"capacity_purchased_bytes": None}, []),
        ({"purchasedCapacity": "a/b/c"}, {"capacity_purchased_bytes": None}, ["purchasedCapacity"]),
        ({"protectedCapacity": "80 GB"}, {"capacity_protected_bytes": 80 * GB}, []),
        (
            {"purchasedUserSeats": "-5", "expirationDate": "soon"},
            {"purchased_seats": None, "expiry": None},
            [
                "expirationDate",
                "purchasedUserSeats",
            ],
        ),
        ({"purchasedUnits": 12, "subscriptionName": "N/A", "storage": None}, {"purchased_units": 12}, []),
        ({"expirationDate": "0001-01-01T00:00:00"}, {"expiry": None}, []),
    ],
)
def test_subscription_forms(changes: dict[str, object], fields: dict[str, object], errors: list[str]) -> None:
    subs, found = parse.subscriptions({"customerId": "c", "products": [{**PRODUCT, **changes}]})
    assert sorted(found) == sorted(errors)
    assert len(subs) == 1
    for name, value in fields.items():
        assert getattr(subs[0], name) == value, name
    if "subscriptionName" in changes:
        assert (subs[0].subscription_name, subs[0].storage) == ("", "")


@pytest.mark.parametrize(
    ("element", "count", "errors"),
    [
        ({"customerId": "c", "products": []}, 0, []),
        ({"customerId": "c"}, 0, []),
        ({"customerId": "c", "products": None}, 0, []),
        ({"customerId": "c", "products": "x"}, 0, ["products"]),
        ({"customerId": "c", "products": [PRODUCT, "x", {**PRODUCT, "service": "N/A "}]}, 2, ["products"]),
        ({"customerId": "c", "products": [{**PRODUCT, "service": ""}, PRODUCT]}, 1, ["service"]),
        ({"products": [PRODUCT]}, 0, ["customerId"]),
        ({"customerId": 7, "products": [PRODUCT]}, 0, ["customerId"]),
    ],
)
def test_subscriptions_shapes(element: dict[str, object], count: int, errors: list[str]) -> None:
    subs, found = parse.subscriptions(element)
    assert (len(subs), found) == (count, errors)


def test_new_parsers_take_no_non_mapping() -> None:
    assert parse.subscriptions([PRODUCT]) == ([], ["customerId"])  # type: ignore[arg-type]
    assert parse.protected("row") == (None, ["serviceType", "serviceModule"])  # type: ignore[arg-type]
    assert parse.customer(None) == (None, ["id"])  # type: ignore[arg-type]
    assert parse.job(42) == (None, ["jobType", "jobModule"])  # type: ignore[arg-type]


# --- properties of the new parsers ---------------------------------------------------

codes_or_anything = st.integers() | st.sampled_from([0, 7, 302, 399, 601, 2**31, -(2**40)]) | anything
PROTECTED_FIELDS = list(PROTECTED_ROW)
PRODUCT_FIELDS = list(PRODUCT)
V3_CUSTOMER_FIELDS = [*CUSTOMER_FIELDS, "managementMode", "tenants"]
tenant_lists = st.lists(st.dictionaries(st.sampled_from(["id", "name"]), anything, max_size=2), max_size=3)


@given(st.dictionaries(st.sampled_from(JOB_FIELDS), codes_or_anything))
def test_job_with_codes_never_raises(row: dict[str, object]) -> None:
    record, errors = parse.job(row)
    assert len(errors) == len(set(errors))
    if record is not None:
        for label in (record.job_type, record.job_module):
            assert isinstance(label, str) and label


@given(st.dictionaries(st.sampled_from(V3_CUSTOMER_FIELDS), codes_or_anything | tenant_lists))
def test_v3_customer_never_raises(row: dict[str, object]) -> None:
    record, errors = parse.customer(row)
    assert set(errors) <= set(V3_CUSTOMER_FIELDS)
    assert len(errors) == len(set(errors))
    if record is not None:
        assert isinstance(record.management_mode, str)
        assert all(isinstance(t, Tenant) and t.id and isinstance(t.name, str) for t in record.tenants)


@given(st.dictionaries(st.sampled_from(PROTECTED_FIELDS), codes_or_anything))
def test_protected_never_raises(row: dict[str, object]) -> None:
    record, errors = parse.protected(row)
    assert set(errors) <= set(PROTECTED_FIELDS)
    assert len(errors) == len(set(errors))
    if record is None:
        assert errors and set(errors) <= {"serviceType", "serviceModule"}
    else:
        assert record.service and record.module
        for value in (record.scanned_objects, record.protected_objects):
            assert value is None or (type(value) is int and value >= 0)
        for size in (record.bytes_avepoint, record.bytes_byos):
            if size is not None:
                _check_quantity(size)


@given(
    st.dictionaries(
        st.sampled_from(["customerId", "organization", "products"]),
        anything | st.lists(st.dictionaries(st.sampled_from(PRODUCT_FIELDS), anything) | anything, max_size=3),
    )
)
def test_subscriptions_never_raise(element: dict[str, object]) -> None:
    subs, errors = parse.subscriptions(element)
    assert set(errors) <= {"customerId", "products", *PRODUCT_FIELDS}
    for sub in subs:
        assert isinstance(sub, Subscription)
        assert sub.customer_id and sub.service
        for size in (sub.capacity_purchased_bytes, sub.capacity_protected_bytes, sub.consumed_bytes):
            if size is not None:
                _check_quantity(size)
        for number in (sub.purchased_seats, sub.purchased_units, sub.licenses_assigned, sub.licenses_available):
            assert number is None or (type(number) is int and number >= 0)


def test_huge_integers_are_quoted_without_repr() -> None:
    for parser in (parse.count, parse.size_bytes, parse.duration_seconds):
        with pytest.raises(ParseError, match="integer of 16610 bits"):
            parser(10**5000)


@settings(max_examples=500)
@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)),
)
def test_fast_timestamp_path_agrees_with_the_general_one(moment: datetime) -> None:
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"
    # The same instant written with an explicit offset takes the general (regex) path.
    general = parse.timestamp(text[:-1] + "+00:00")
    assert parse.timestamp(text) == general


@given(st.integers(min_value=0, max_value=10**18 - 1))
def test_fast_count_path_agrees_with_the_general_one(n: int) -> None:
    assert parse.count(str(n)) == parse.count(f" {n} ") == n

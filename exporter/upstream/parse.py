"""Pure parsing of AvePoint API values (counts, sizes, durations, times, statuses) into typed records."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import TypeVar

from exporter import codes, safe
from exporter.model import Customer, Job, Outcome, ProtectedData, Subscription, Tenant

__all__ = [
    "DEFAULT_OUTCOMES",
    "ParseError",
    "Repaired",
    "capacity",
    "count",
    "customer",
    "duration_seconds",
    "is_missing",
    "job",
    "outcome",
    "protected",
    "size_bytes",
    "size_ratio",
    "subscriptions",
    "timestamp",
]

T = TypeVar("T")


class ParseError(ValueError):
    """An API value is present but unreadable; the message quotes (a prefix of) it."""


class Repaired(str):
    """A field name in a parser's error list whose text was kept repaired (`safe.repair`), not left out.

    A str, so that it counts and compares as the field name; only the log line tells the two apart.
    """

    __slots__ = ()


_MISSING = frozenset({"", "n/a", "na", "null", "none", "-"})

# ASCII only: `\d` would otherwise accept digits of every script, which the API never
# sends and which int() and float() would then happily read.
_FLAGS = re.ASCII | re.IGNORECASE
_NUM = r"\d+(?:\.\d+)?"
_GROUPED = r"(?:\d{1,3}(?:,\d{3})+|\d+)"  # "1,234" or "1234", never "1,23"

_COUNT = re.compile(rf"({_GROUPED})(?:\.(\d+))?", _FLAGS)
# AvePoint's backend is .NET: a count beyond a signed 64-bit integer is corruption.
_MAX_COUNT = 2**63 - 1

_SIZE = re.compile(rf"(?P<num>{_GROUPED}(?:\.\d+)?|\.\d+)\s*(?P<unit>[a-z]*)", _FLAGS)
# The API never says whether GB is 10^9 or 2^30 bytes; the metric contract says 2^30.
_UNITS: Mapping[str, int] = MappingProxyType(
    {
        "": 1,
        "b": 1,
        "byte": 1,
        "bytes": 1,
        "kb": 2**10,
        "kib": 2**10,
        "mb": 2**20,
        "mib": 2**20,
        "gb": 2**30,
        "gib": 2**30,
        "tb": 2**40,
        "tib": 2**40,
        "pb": 2**50,
        "pib": 2**50,
    }
)

_SECONDS = re.compile(_NUM, _FLAGS)
# Each part owns the spaces after it: adjacent optional `\s*` would backtrack in
# polynomial time on a long run of spaces.
_DURATION_UNITS = re.compile(
    rf"(?:(?P<d>{_NUM})\s*d\s*)?(?:(?P<h>{_NUM})\s*h\s*)?"
    rf"(?:(?P<m>{_NUM})\s*m\s*)?(?:(?P<s>{_NUM})\s*s)?",
    _FLAGS,
)
# hh:mm:ss and .NET's TimeSpan d.hh:mm:ss.fffffff. Four colon-separated parts (.NET's
# "g" form d:h:mm:ss) have never been seen from the API, so they are not guessed at.
_DURATION_CLOCK = re.compile(r"(?:(?P<d>\d+)\.)?(?P<h>\d+):(?P<m>[0-5]\d):(?P<s>[0-5]\d(?:\.\d+)?)", _FLAGS)
# ISO 8601 (.NET's XmlConvert); years and months have no fixed length, so no Y or M.
_DURATION_ISO = re.compile(
    rf"P(?:(?P<d>{_NUM})D)?"
    rf"(?:T(?=\d)(?:(?P<h>{_NUM})H)?(?:(?P<m>{_NUM})M)?(?:(?P<s>{_NUM})S)?)?",
    _FLAGS,
)
_DURATION_FORMATS = (_DURATION_UNITS, _DURATION_CLOCK, _DURATION_ISO)
_UNIT_SECONDS = MappingProxyType({"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0})

_TIMESTAMP = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?"
    r"\s?(?P<tz>Z|(?P<sign>[+-])(?P<tzh>\d{2})(?::?(?P<tzm>\d{2}))?)?)?",
    _FLAGS,
)
# .NET sends DateTime.MinValue (0001-01-01) and other stacks the epoch for "never":
# no real backup is that old, so such a date is a placeholder, not a time.
_FIRST_REAL_YEAR = 1971
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

DEFAULT_OUTCOMES: Mapping[str, Outcome] = MappingProxyType(
    {
        "finished": Outcome.SUCCESS,
        "successful": Outcome.SUCCESS,
        "succeeded": Outcome.SUCCESS,
        "completed": Outcome.SUCCESS,
        "finished with exception": Outcome.WARNING,
        "partially succeeded": Outcome.WARNING,
        "warning": Outcome.WARNING,
        "failed": Outcome.FAILED,
        "failed to start": Outcome.FAILED,
        "rejected": Outcome.FAILED,
        "running": Outcome.RUNNING,
        "in progress": Outcome.RUNNING,
        "pending": Outcome.RUNNING,
        "not finished": Outcome.RUNNING,
        "canceled": Outcome.CANCELED,
        "cancelled": Outcome.CANCELED,
        "stopped": Outcome.CANCELED,
        "skipped": Outcome.NOT_RUN,
        "not started": Outcome.NOT_RUN,
        "not scanned": Outcome.NOT_RUN,
        "disabled": Outcome.NOT_RUN,
        "waiting for configuration": Outcome.NOT_RUN,
        "none": Outcome.NOT_RUN,
    }
)


def _quote(raw: object) -> str:
    # Bounded so that a huge upstream value cannot flood a log line.
    if isinstance(raw, int) and raw.bit_length() > 256:
        # repr() of an int of more than 4300 digits raises; no one reads such a number anyway.
        return f"<{'negative ' if raw < 0 else ''}integer of {raw.bit_length()} bits>"
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def is_missing(raw: object) -> bool:
    """True for the API's ways of saying "no value": None, blank, N/A, NA, null, None and "-"."""
    if raw is None:
        return True
    if not isinstance(raw, str):
        return False
    # Fast path for the common case, an ordinary value: longer than any marker and not padded.
    if len(raw) > 4 and not raw[0].isspace() and not raw[-1].isspace():
        return False
    return raw.strip().casefold() in _MISSING


def _non_negative(value: float, raw: object, what: str, *, negated: bool = False) -> float:
    if not math.isfinite(value):
        raise ParseError(f"{what} out of range: {_quote(raw)}")
    if value < 0 or (negated and value > 0):
        raise ParseError(f"negative {what}: {_quote(raw)}")
    # abs() turns "-0" and -0.0 into 0.0, which would otherwise be exported as "-0".
    return abs(value)


def _json_number(raw: object, what: str) -> float:
    # bool is an int subclass, but true/false is never a quantity.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ParseError(f"not a {what}: {_quote(raw)}")
    try:
        value = float(raw)
    except OverflowError:
        raise ParseError(f"{what} out of range: {_quote(raw)}") from None
    return _non_negative(value, raw, what)


def _unsigned(raw: str) -> tuple[str, bool]:
    # The sign is split off so that "-5 GB" is reported as negative, not as garbage.
    text = raw.strip()
    if text.startswith("-"):
        return text[1:].lstrip(), True
    return text, False


def count(raw: object) -> int | None:
    """A number of objects from an int or a string such as "12", "1,234" or "12.0"."""
    # Fast path for what the API sends nearly always: plain ASCII digits, well inside 64 bits.
    if type(raw) is str and 0 < len(raw) <= 18 and raw.isascii() and raw.isdigit():
        return int(raw)
    if is_missing(raw):
        return None
    if isinstance(raw, str):
        text, negative = _unsigned(raw)
        match = _COUNT.fullmatch(text)
        if match is None:
            raise ParseError(f"not a count: {_quote(raw)}")
        digits, fraction = match[1].replace(",", ""), match[2] or ""
        if fraction.strip("0"):
            raise ParseError(f"count is not a whole number: {_quote(raw)}")
        # Checked before int(), which refuses strings of more than 4300 digits.
        if len(digits.lstrip("0")) > len(str(_MAX_COUNT)):
            raise ParseError(f"count out of range: {_quote(raw)}")
        value = -int(digits) if negative else int(digits)
    elif isinstance(raw, float):
        if not raw.is_integer():
            raise ParseError(f"count is not a whole number: {_quote(raw)}")
        value = int(raw)
    elif isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        raise ParseError(f"not a count: {_quote(raw)}")
    if value < 0:
        raise ParseError(f"negative count: {_quote(raw)}")
    if value > _MAX_COUNT:
        raise ParseError(f"count out of range: {_quote(raw)}")
    return value


def _size_parts(text: str) -> tuple[float, str] | None:
    """Number and lower-case unit of an unsigned size like "1,024.5 MB", else None."""
    match = _SIZE.fullmatch(text)
    if match is None or match["unit"].casefold() not in _UNITS:
        return None
    return float(match["num"].replace(",", "")), match["unit"].casefold()


def size_bytes(raw: object) -> float | None:
    """Bytes from "500 GB", "1.5 TB", "2GiB", "1,024.5 MB", "3 bytes" or a JSON number.

    Units are binary multiples (1 KB = 1 KiB = 2**10 bytes, 1 GB = 2**30 bytes): the
    API does not say which it means. A "used/total" value such as "0/1 GB" is not a
    size and raises ParseError; `size_ratio` reads those.
    """
    if is_missing(raw):
        return None
    if not isinstance(raw, str):
        return _json_number(raw, "size")
    text, negative = _unsigned(raw)
    if "/" in text:
        raise ParseError(f"a used/total ratio, not a size: {_quote(raw)}")
    parts = _size_parts(text)
    if parts is None:
        raise ParseError(f"not a size: {_quote(raw)}")
    value = parts[0] * _UNITS[parts[1]]
    return _non_negative(value, raw, "size", negated=negative)


def _ratio_side(text: str) -> tuple[float, str] | None:
    if is_missing(text):
        return None
    parts = _size_parts(text.strip())
    if parts is None:
        raise ParseError(f"not a size: {_quote(text)}")
    return parts


def size_ratio(raw: object) -> tuple[float | None, float | None]:
    """(used, total) in bytes from "0/1 GB", "5 GB/1 TB" or "3/N/A"; a plain size gives (size, None).

    A side without a unit takes the other side's ("0/1 GB" is 0 GB of 1 GB); when
    neither side has one, numbers are bytes, as in `size_bytes`.
    """
    if is_missing(raw):
        return None, None
    if not isinstance(raw, str) or "/" not in raw:
        return size_bytes(raw), None
    text = raw.strip()
    # "N/A" holds a slash itself: try every slash and keep the one split that reads.
    splits = []
    for index, char in enumerate(text):
        if char == "/":
            try:
                used = _ratio_side(text[:index])
                total = _ratio_side(text[index + 1 :])
            except ParseError:
                continue
            splits.append((used, total))
    if len(splits) != 1:
        raise ParseError(f"not a used/total size: {_quote(raw)}")
    used, total = splits[0]

    def in_bytes(side: tuple[float, str] | None, other_unit: str) -> float | None:
        if side is None:
            return None
        number, unit = side
        return _non_negative(number * _UNITS[unit or other_unit], raw, "size")

    used_unit, total_unit = (used[1] if used else ""), (total[1] if total else "")
    return in_bytes(used, total_unit), in_bytes(total, used_unit)


def _duration_parts(text: str) -> float | None:
    """Seconds of an unsigned duration in any accepted form, else None."""
    if _SECONDS.fullmatch(text):
        return float(text)
    for pattern in _DURATION_FORMATS:
        match = pattern.fullmatch(text)
        groups = match.groupdict() if match else {}
        parts = {unit: value for unit, value in groups.items() if value}
        if not parts:
            continue
        if pattern is _DURATION_CLOCK and "d" in parts and float(parts["h"]) >= 24:
            return None
        return sum(float(value) * _UNIT_SECONDS[unit] for unit, value in parts.items())
    return None


def duration_seconds(raw: object) -> float | None:
    """Seconds from "17m39s", "1d2h3m4s", "1h 2m", "01:02:03", "1.16:00:44", "PT1H2M3S" or a number."""
    if is_missing(raw):
        return None
    if not isinstance(raw, str):
        return _json_number(raw, "duration")
    text, negative = _unsigned(raw)
    value = _duration_parts(text)
    if value is None:
        raise ParseError(f"not a duration: {_quote(raw)}")
    return _non_negative(value, raw, "duration", negated=negative)


def timestamp(raw: object) -> float | None:
    """Unix seconds from ISO 8601 such as "2025-09-11T03:21:16Z" or "2025-09-11 03:21:16+02:00".

    Fractional seconds may have any number of digits (.NET sends seven). A time without
    an offset is taken as UTC, as the API documents its times; a date alone is midnight
    UTC. Dates before 1971 (.NET's 0001-01-01T00:00:00) are placeholders for "never"
    and give None, not an error.
    """
    # Fast path for the API's usual form, 2025-09-11T03:21:16Z: datetime's C parser reads it.
    if type(raw) is str and len(raw) == 20 and raw[10] == "T" and raw[19] == "Z" and raw.isascii():
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            pass  # the general path below says what is wrong
        else:
            return None if moment.year < _FIRST_REAL_YEAR else moment.timestamp()
    if is_missing(raw):
        return None
    if not isinstance(raw, str):
        raise ParseError(f"not a time string: {_quote(raw)}")
    match = _TIMESTAMP.fullmatch(raw.strip())
    if match is None:
        raise ParseError(f"not an ISO 8601 time: {_quote(raw)}")
    if int(match["year"]) < _FIRST_REAL_YEAR:
        return None
    offset = timedelta(0)
    if match["sign"]:
        hours, minutes = int(match["tzh"]), int(match["tzm"] or 0)
        if hours > 23 or minutes > 59:
            raise ParseError(f"time has an impossible UTC offset: {_quote(raw)}")
        offset = timedelta(hours=hours, minutes=minutes)
        if match["sign"] == "-":
            offset = -offset
    try:
        moment = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"] or 0),
            int(match["minute"] or 0),
            int(match["second"] or 0),
            tzinfo=timezone(offset),
        )
    except ValueError:
        raise ParseError(f"not a valid date and time: {_quote(raw)}") from None
    fraction = float("0." + match["fraction"]) if match["fraction"] else 0.0
    return (moment - _EPOCH).total_seconds() + fraction


def outcome(status: str, overrides: Mapping[str, Outcome] | None = None) -> Outcome:
    """What a status means; `overrides` (keys normalized too) win over the defaults."""
    key = codes.normalize_status(status)
    for name, value in (overrides or {}).items():
        if codes.normalize_status(name) == key:
            return value
    return DEFAULT_OUTCOMES.get(key, Outcome.UNKNOWN)


def _code(raw: int, table: Mapping[int, str] | None) -> str:
    if abs(raw) > codes.MAX_CODE:
        raise ParseError(f"code out of range: {_quote(raw)}")
    return codes.name(table, raw) if table is not None else str(raw)


def _text(raw: object) -> str | None:
    """A label value as sent but trimmed; an integer (a v3 code without a table) as its decimal."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw.strip()
    if isinstance(raw, int) and not isinstance(raw, bool):
        return _code(raw, None)
    raise ParseError(f"not a string: {_quote(raw)}")


def _coded(table: Mapping[int, str]) -> Callable[[object], str | None]:
    """A reader of a field that legacy sends as a name and v3 as a code of `table`.

    A code the table lacks becomes its decimal string: AvePoint adds modules faster than its
    documentation, and a job with an unknown module must still be exported, never dropped.
    """

    def read(raw: object) -> str | None:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return _code(raw, table)
        return _text(raw)

    return read


# Built once: a reader per row would cost a closure per field of every row.
_CUSTOMER_STATUS = _coded(codes.CUSTOMER_STATUSES)
_MANAGEMENT_MODE = _coded(codes.MANAGEMENT_MODES)
_JOB_STATUS = _coded(codes.JOB_STATUSES)


def _optional_id(raw: object) -> str | None:
    text = _text(raw)
    return None if is_missing(text) else text


def _optional_text(raw: object) -> str:
    return _optional_id(raw) or ""


def _field(
    row: Mapping[str, object],
    name: str,
    parse: Callable[[object], T | None],
    errors: list[str],
) -> T | None:
    try:
        return parse(row.get(name))
    except ParseError:
        errors.append(name)
        return None


def _label(
    row: Mapping[str, object],
    name: str,
    read: Callable[[object], str | None],
    errors: list[str],
) -> str | None:
    """A text field, repaired where it must be (see `_repaired`)."""
    try:
        text = read(row.get(name))
    except ParseError:
        errors.append(name)
        return None
    # The fast path, inline: nearly every API string is short printable ASCII.
    if text is None or (text.isascii() and text.isprintable() and len(text) <= safe.MAX_TEXT):
        return text
    return _repaired(text, name, errors)


def _repaired(text: str, name: str, errors: list[str]) -> str:
    # Every API string that becomes a label or page text passes here (from `_label` or `_required`): the
    # one place where a lone surrogate, a control character or a megabyte of text is stopped, for every
    # output at once, and counted against its field.
    if safe.is_plain(text):
        return text
    errors.append(Repaired(name))
    return safe.repair(text)


def _required(
    row: Mapping[str, object], name: str, errors: list[str], table: Mapping[int, str] | None = None
) -> str | None:
    """A non-blank string, or (when `table` is given) a v3 code turned into its name."""
    raw = row.get(name)
    text = ""
    if isinstance(raw, str):
        text = raw.strip()
    elif table is not None and isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) <= codes.MAX_CODE:
        text = codes.name(table, raw)
    if not text:
        errors.append(name)
        return None
    if text.isascii() and text.isprintable() and len(text) <= safe.MAX_TEXT:
        return text
    return _repaired(text, name, errors)


def _tenants(row: Mapping[str, object], errors: list[str]) -> tuple[Tenant, ...]:
    raw = row.get("tenants")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.append("tenants")
        return ()
    tenants: list[Tenant] = []
    item_errors: list[str] = []
    left_out = False
    for item in raw:
        tenant_id = name = None
        if isinstance(item, Mapping):
            tenant_id = _label(item, "id", _optional_id, item_errors)
            name = _label(item, "name", _optional_text, item_errors)
        if tenant_id is None:  # a tenant without an id cannot be told apart: left out
            left_out = True
            continue
        tenants.append(Tenant(tenant_id, name or ""))
    if left_out or any(not isinstance(e, Repaired) for e in item_errors):
        errors.append("tenants")
    elif item_errors:
        errors.append(Repaired("tenants"))
    return tuple(tenants)


def customer(row: Mapping[str, object]) -> tuple[Customer | None, list[str]]:
    """A customer from one element of the customers list, and the API fields that could not be read.

    Accepts both backends: legacy sends `jobStatus` as a name, v3 as a code (mapped to the same
    names) plus `managementMode` and `tenants`, which legacy lacks ("" and () then). Never
    raises: without a usable `id` the result is (None, ["id"]).
    """
    errors: list[str] = []
    if not isinstance(row, Mapping):
        return None, ["id"]
    customer_id = _required(row, "id", errors)
    if customer_id is None:
        return None, errors
    record = Customer(
        id=customer_id,
        organization=_label(row, "organization", _text, errors) or "",
        country=_label(row, "countryOrRegion", _text, errors) or "",
        status=_label(row, "jobStatus", _CUSTOMER_STATUS, errors) or "",
        management_mode=_label(row, "managementMode", _MANAGEMENT_MODE, errors) or "",
        tenants=_tenants(row, errors),
    )
    return record, errors


def job(row: Mapping[str, object], overrides: Mapping[str, Outcome] | None = None) -> tuple[Job | None, list[str]]:
    """A job from one job row, and the API names of the fields that could not be read.

    Accepts both backends: v3 codes of `jobType`, `jobModule` and `status` become the names of
    the v3 tables, or their decimal string when a table lacks them; legacy spellings of a job
    type or module become the same canonical names (codes.LEGACY_JOB_TYPES / LEGACY_JOB_MODULES).
    Never raises: an unreadable field is None and named in the list; without a usable `jobType` and `jobModule` the job
    itself is None. A row without job id and start time describes a module that never ran, so
    it is not_run whatever its status.
    """
    errors: list[str] = []
    if not isinstance(row, Mapping):
        return None, ["jobType", "jobModule"]
    job_type = _required(row, "jobType", errors, codes.JOB_TYPES)
    job_module = _required(row, "jobModule", errors, codes.JOB_MODULES)
    if job_type is None or job_module is None:
        return None, errors
    # One job, one series on either generation: legacy spellings become the v3 table's.
    job_type, job_module = codes.canonical_job_type(job_type), codes.canonical_job_module(job_module)
    status = _label(row, "status", _JOB_STATUS, errors) or ""
    never_ran = is_missing(row.get("jobId")) and is_missing(row.get("startTime"))
    record = Job(
        job_type=job_type,
        job_module=job_module,
        job_id=_label(row, "jobId", _optional_id, errors),
        name=_label(row, "name", _optional_id, errors),
        status=status,
        outcome=Outcome.NOT_RUN if never_ran else outcome(status, overrides),
        objects=_field(row, "totalCount", count, errors),
        failed_objects=_field(row, "failedCount", count, errors),
        successful_objects=_field(row, "successfulCount", count, errors),
        skipped_objects=_field(row, "skippedCount", count, errors),
        warning_objects=_field(row, "warningCount", count, errors),
        size_bytes=_field(row, "backupSize", size_bytes, errors),
        duration_seconds=_field(row, "jobDuration", duration_seconds, errors),
        start_time=_field(row, "startTime", timestamp, errors),
        end_time=_field(row, "endTime", timestamp, errors),
        last_modified=_field(row, "lastModifyTime", timestamp, errors),
    )
    return record, errors


def protected(row: Mapping[str, object]) -> tuple[ProtectedData | None, list[str]]:
    """Protected data of one service module (legacy `/protected`, v3 `cloud-backup-m365/overview`).

    Never raises. Without a usable `serviceType` and `serviceModule` the record is None. Both
    are kept as sent: the documentation gives them as strings; should an integer arrive, it is
    exported as its decimal rather than guessed to share the job tables.
    """
    errors: list[str] = []
    if not isinstance(row, Mapping):
        return None, ["serviceType", "serviceModule"]
    service = _required_any(row, "serviceType", errors)
    module = _required_any(row, "serviceModule", errors)
    if service is None or module is None:
        return None, errors
    record = ProtectedData(
        service=service,
        module=module,
        scanned_objects=_field(row, "totalScannedObjects", count, errors),
        protected_objects=_field(row, "totalProtectedObjects", count, errors),
        bytes_avepoint=_field(row, "dataSizeStoredInAvePoint", size_bytes, errors),
        bytes_byos=_field(row, "dataSizeStoredInBYOS", size_bytes, errors),
    )
    return record, errors


def _required_any(row: Mapping[str, object], name: str, errors: list[str]) -> str | None:
    raw = row.get(name)
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) <= codes.MAX_CODE:
        return str(raw)
    return _required(row, name, errors)


def capacity(raw: object) -> tuple[float | None, float | None]:
    """(first, purchased) bytes of a `purchasedCapacity`: "1024 GB" is all purchased; of v3's
    "0/1 GB" the second half is taken as the purchased capacity (the field's documented meaning)
    and the first is returned but undocumented: callers do not export it (see `size_ratio`)."""
    if isinstance(raw, str) and "/" in raw and not is_missing(raw):
        return size_ratio(raw)
    return None, size_bytes(raw)


def subscriptions(element: Mapping[str, object]) -> tuple[list[Subscription], list[str]]:
    """The subscriptions (one per product) of one element of the services list, and unread fields.

    Never raises. Without a usable `customerId` there is nothing to attribute, so ([], ["customerId"]);
    a product without `service` is left out and "service" named. `N/A` gives None, never 0.
    Consumed storage is `consumedStorage` alone: nothing documents the first half of a
    purchasedCapacity like "0/1 GB" (AvePoint/cloud-api docs/elements/general/service
    subscription/get-all-services.md), so it never stands in for a consumedStorage of "N/A".
    """
    errors: list[str] = []
    if not isinstance(element, Mapping):
        return [], ["customerId"]
    customer_id = _required(element, "customerId", errors)
    if customer_id is None:
        return [], errors
    products = element.get("products")
    if products is None:
        return [], errors
    if not isinstance(products, list):
        return [], [*errors, "products"]
    out: list[Subscription] = []
    for product in products:
        if not isinstance(product, Mapping):
            errors.append("products")
            continue
        service = _required(product, "service", errors)
        if service is None:
            continue
        _, purchased = _field(product, "purchasedCapacity", capacity, errors) or (None, None)
        consumed = _field(product, "consumedStorage", size_bytes, errors)
        out.append(
            Subscription(
                customer_id=customer_id,
                service=service,
                subscription_name=_label(product, "subscriptionName", _optional_text, errors) or "",
                model=_label(product, "subscriptionModel", _optional_text, errors) or "",
                storage=_label(product, "storage", _optional_text, errors) or "",
                expiry=_field(product, "expirationDate", timestamp, errors),
                contract_end=_field(product, "contractEndDate", timestamp, errors),
                purchased_seats=_field(product, "purchasedUserSeats", count, errors),
                purchased_units=_field(product, "purchasedUnits", count, errors),
                licenses_assigned=_field(product, "microsoftLicenseAssigned", count, errors),
                licenses_available=_field(product, "microsoftLicenseAvailable", count, errors),
                capacity_purchased_bytes=purchased,
                capacity_protected_bytes=_field(product, "protectedCapacity", size_bytes, errors),
                # Only consumedStorage says what is consumed: the first half of a purchasedCapacity
                # like "0/1 GB" is undocumented, so a consumedStorage of "N/A" is left out, never 0.
                consumed_bytes=consumed,
            )
        )
    return out, errors

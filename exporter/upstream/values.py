"""Pure parsing of the API's scalar values: counts, sizes, durations, timestamps, and its ways of saying "none"."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType


class ParseError(ValueError):
    """An API value is present but unreadable; the message quotes (a prefix of) it."""


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


def quoted(raw: object) -> str:
    """`raw` as an error message quotes it: bounded, so that a huge upstream value cannot flood a log line."""
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
        raise ParseError(f"{what} out of range: {quoted(raw)}")
    if value < 0 or (negated and value > 0):
        raise ParseError(f"negative {what}: {quoted(raw)}")
    # abs() turns "-0" and -0.0 into 0.0, which would otherwise be exported as "-0".
    return abs(value)


def _json_number(raw: object, what: str) -> float:
    # bool is an int subclass, but true/false is never a quantity.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ParseError(f"not a {what}: {quoted(raw)}")
    try:
        value = float(raw)
    except OverflowError:
        raise ParseError(f"{what} out of range: {quoted(raw)}") from None
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
            raise ParseError(f"not a count: {quoted(raw)}")
        digits, fraction = match[1].replace(",", ""), match[2] or ""
        if fraction.strip("0"):
            raise ParseError(f"count is not a whole number: {quoted(raw)}")
        # Checked before int(), which refuses strings of more than 4300 digits.
        if len(digits.lstrip("0")) > len(str(_MAX_COUNT)):
            raise ParseError(f"count out of range: {quoted(raw)}")
        value = -int(digits) if negative else int(digits)
    elif isinstance(raw, float):
        if not raw.is_integer():
            raise ParseError(f"count is not a whole number: {quoted(raw)}")
        value = int(raw)
    elif isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        raise ParseError(f"not a count: {quoted(raw)}")
    if value < 0:
        raise ParseError(f"negative count: {quoted(raw)}")
    if value > _MAX_COUNT:
        raise ParseError(f"count out of range: {quoted(raw)}")
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
        raise ParseError(f"a used/total ratio, not a size: {quoted(raw)}")
    parts = _size_parts(text)
    if parts is None:
        raise ParseError(f"not a size: {quoted(raw)}")
    value = parts[0] * _UNITS[parts[1]]
    return _non_negative(value, raw, "size", negated=negative)


def _ratio_side(text: str) -> tuple[float, str] | None:
    if is_missing(text):
        return None
    parts = _size_parts(text.strip())
    if parts is None:
        raise ParseError(f"not a size: {quoted(text)}")
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
        raise ParseError(f"not a used/total size: {quoted(raw)}")
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
        raise ParseError(f"not a duration: {quoted(raw)}")
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
        raise ParseError(f"not a time string: {quoted(raw)}")
    match = _TIMESTAMP.fullmatch(raw.strip())
    if match is None:
        raise ParseError(f"not an ISO 8601 time: {quoted(raw)}")
    if int(match["year"]) < _FIRST_REAL_YEAR:
        return None
    offset = timedelta(0)
    if match["sign"]:
        hours, minutes = int(match["tzh"]), int(match["tzm"] or 0)
        if hours > 23 or minutes > 59:
            raise ParseError(f"time has an impossible UTC offset: {quoted(raw)}")
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
        raise ParseError(f"not a valid date and time: {quoted(raw)}") from None
    fraction = float("0." + match["fraction"]) if match["fraction"] else 0.0
    return (moment - _EPOCH).total_seconds() + fraction


def capacity(raw: object) -> tuple[float | None, float | None]:
    """(first, purchased) bytes of a `purchasedCapacity`: "1024 GB" is all purchased; of v3's
    "0/1 GB" the second half is taken as the purchased capacity (the field's documented meaning)
    and the first is returned but undocumented: callers do not export it (see `size_ratio`)."""
    if isinstance(raw, str) and "/" in raw and not is_missing(raw):
        return size_ratio(raw)
    return None, size_bytes(raw)

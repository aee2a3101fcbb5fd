"""Log output: logfmt or JSON lines on stderr, with the structured fields passed as `extra`."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, TextIO

from exporter import safe

# Attributes every LogRecord has; anything else on a record came from `extra=` and is a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_"):
            out[key] = value
    if record.exc_info:
        out["exception"] = logging.Formatter().formatException(record.exc_info)
    return out


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = json.dumps(_fields(record), default=str, ensure_ascii=False)
        # json escapes C0 controls but writes DEL, C1 (8-bit terminal escapes) and lone surrogates as they
        # are; a surrogate makes the stream's encoder fail and the line vanish. They occur only inside strings.
        return _C1.sub(_json_escape, safe.encodable(text))


# Characters that make a logfmt value need quotes, and the controls among them that need escapes: a raw
# carriage return or escape sequence from API text could forge or hide log lines on a terminal.
_NEEDS_QUOTES = re.compile('[ ="\\\x00-\x1f\x7f-\x9f]')
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_C1 = re.compile("[\x7f-\x9f]")
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def _control_escape(match: re.Match[str]) -> str:
    char = match[0]
    return _ESCAPES.get(char) or f"\\x{ord(char):02x}"


def _logfmt_value(value: object) -> str:
    text = safe.encodable(str(value))
    if text and _NEEDS_QUOTES.search(text) is None:
        return text
    escaped = _CONTROL.sub(_control_escape, text.replace("\\", "\\\\").replace('"', '\\"'))
    return f'"{escaped}"'


LEVELS = ("debug", "info", "warn", "error")
FORMATS = ("logfmt", "json")


def setup(level: str = "info", fmt: str = "logfmt", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel({"warn": "WARNING"}.get(level, level.upper()))
    # urllib3 logs full URLs (with customer ids) at debug; our client logs what matters.
    logging.getLogger("urllib3").setLevel(logging.WARNING)

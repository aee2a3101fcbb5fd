"""Log lines: logfmt and JSON, with structured fields and safe quoting."""

from __future__ import annotations

import io
import json
import logging

import pytest

from exporter import logs


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


def test_logfmt_quotes_what_needs_quoting(stream: io.StringIO) -> None:
    logs.setup("info", "logfmt", stream)
    logging.getLogger("exporter.test").warning("hello world", extra={"customer_id": "c1", "error": 'a "b"\nc'})
    line = stream.getvalue().strip()
    assert 'level=warning logger=exporter.test msg="hello world" customer_id=c1 error="a \\"b\\"\\nc"' in line
    assert line.startswith("ts=") and "\n" not in line


def test_json_lines(stream: io.StringIO) -> None:
    logs.setup("debug", "json", stream)
    logging.getLogger("exporter.test").debug("x", extra={"n": 3})
    record = json.loads(stream.getvalue())
    assert record["msg"] == "x" and record["n"] == 3 and record["level"] == "debug"


def test_level_filters(stream: io.StringIO) -> None:
    logs.setup("warn", "logfmt", stream)
    logging.getLogger("exporter.test").info("hidden")
    logging.getLogger("exporter.test").error("shown")
    assert "hidden" not in stream.getvalue() and "shown" in stream.getvalue()

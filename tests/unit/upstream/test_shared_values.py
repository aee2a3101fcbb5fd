"""Parsed rows share what repeats across a fleet (labels, module keys) and do per row only what varies."""

from __future__ import annotations

import pytest

from exporter import codes
from exporter.model import Outcome
from exporter.upstream import parse
from exporter.upstream import rows as rows_module


def row(i: int) -> dict[str, object]:
    # Built at run time, so that no two rows share a string object by accident of the compiler.
    return {
        "jobType": "".join(["Custom", " type"]),
        "jobModule": "".join(["Custom", " module"]),
        "jobId": f"id-{i}",
        "name": "".join(["Nightly", " backup"]),
        "status": "".join(["Finished", " well"]),
        "startTime": "2026-11-30T01:00:00Z",
    }


def test_repeated_texts_and_module_keys_are_one_object_each() -> None:
    first, second = (parse.job(row(i))[0] for i in range(2))
    assert first is not None and second is not None
    for attr in ("job_type", "job_module", "name", "status"):
        assert getattr(first, attr) is getattr(second, attr), attr
    assert first.key is second.key
    assert first.job_id != second.job_id


def test_status_overrides_are_normalized_once_per_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [0]
    real = codes.normalize_status

    def counted(status: str) -> str:
        calls[0] += 1
        return real(status)

    monkeypatch.setattr(codes, "normalize_status", counted)
    overrides = {f"Custom status {i}": Outcome.FAILED for i in range(20)} | {"Finished_Well": Outcome.WARNING}
    results = [parse.job(row(i), overrides)[0] for i in range(100)]
    assert all(job is not None and job.outcome is Outcome.WARNING for job in results)
    assert calls[0] <= 100 + len(overrides)  # one per row, plus the mapping's keys once
    assert rows_module.outcome("custom STATUS 3", overrides) is Outcome.FAILED
    assert rows_module.outcome("finished well", {}) is Outcome.UNKNOWN


def test_module_keys_are_shared_again_after_the_table_filled() -> None:
    # A hostile upstream sending a new module name per row fills the table; later modules must still share.
    from exporter import model

    for i in range(model._MAX_MODULE_KEYS + 5):
        model.module_key("Flood", f"module {i}")
    late = [{**row(i), "jobModule": "".join(["Late", " module"])} for i in range(2)]
    first, second = (parse.job(r)[0] for r in late)
    assert first is not None and second is not None
    assert first.key is second.key

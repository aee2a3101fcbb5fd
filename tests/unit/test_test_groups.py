"""The xdist scheduler's month group (tests/conftest.py) names every module that reads the backfilled month."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import MONTH_MODULES

ROOT = Path(__file__).resolve().parents[2]


def test_every_module_that_reads_the_month_is_in_its_group() -> None:
    uses = re.compile(r"\b(month_prometheus|month_report)\b")
    readers = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if path != Path(__file__).resolve() and uses.search(path.read_text(encoding="utf-8"))
    }
    # A module left out still passes, but builds the month again on its own worker (some 20 s).
    assert readers == MONTH_MODULES

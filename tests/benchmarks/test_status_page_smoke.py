"""The status page benchmark's after-a-change measurements still run (tiny fleets), so they cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks import status_page
from tests.screenshot import CHROMIUM


def test_rebuild_after_a_change_quick_run() -> None:
    changed, refreshed = status_page.rebuild(40, changed=3, rounds=2)
    # From the kept rows only the changed customers' rows are built; from scratch, every row.
    assert changed.built_after == 3 and len(changed.view_before) == len(changed.page_after) == 2
    assert "before" in changed.report() and "ratio" in changed.report()
    # Every customer refreshed with nothing new: rows finished from their kept cells (but those whose staleness
    # flipped in the TTL), not built.
    assert refreshed.finished_after > refreshed.built_after and "nothing new" in refreshed.report()


@pytest.mark.e2e
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed (Debian package chromium)")
def test_browser_after_a_change_quick_run() -> None:
    before, after = (status_page.browser_change(30, kept, opens=2, changed=2) for kept in (False, True))
    assert len(before.opens) == len(after.opens) == 2 and all(t["load"] > 0 for t in before.opens + after.opens)
    assert "before (every row)" in before.report() and "after (kept rows)" in after.report()

"""The spreading and status-page browser benchmarks still run (tiny fleets), so they cannot rot between runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks import spread, status_page
from tests.screenshot import CHROMIUM


@pytest.mark.e2e
def test_spread_benchmark_quick_run(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--customers", "60", "--ttl", "1", "--limit", "200", "--scrape-interval", "0.25"]
    assert spread.main(args) == 0
    printed = capsys.readouterr().out
    assert "per tenth of a TTL" in printed and printed.count("\n") >= 34
    assert "before:" in printed and "after:" in printed


@pytest.mark.e2e
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed (Debian package chromium)")
def test_status_page_browser_benchmark_quick_run() -> None:
    before, after = (status_page.browser(30, paged, opens=2) for paged in (False, True))
    assert before.page_bytes > 0 and after.page_bytes > 0
    assert before.filter_ms > 0 and after.filter_ms > 0 and after.problems_ms > 0
    assert "before (all rows)" in before.report() and "after (paged)" in after.report()

"""The status page in a real headless Chromium, against the console script and the simulator on loopback."""

from __future__ import annotations

import html
import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from exporter.web.status.paging import PAGE_SIZE
from tests.screenshot import CHROMIUM, WINDOW, dump_dom, exporter, png_size, screenshot, wait_until_refreshed
from tests.support.devtools import DevTools

# Skipped only where the browser is not installed (`bash tests/run` installs it); a Chromium that is
# there but fails makes the test fail.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed (Debian package chromium)"),
]

# Each payload would change the page's title if it ran.
SCRIPT_NAME = "<script>document.title='pwned-script'</script>"
IMG_NAME = '"><img src=x onerror="document.title=\'pwned-img\'">'
FAILED_OBJECTS = "17"


@dataclass
class Cell:
    classes: set[str]
    module: str
    title: str


@dataclass
class Row:
    attrs: dict[str, str | None]
    cells: list[Cell] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.attrs["data-id"] or ""

    @property
    def hidden(self) -> bool:
        return "hidden" in self.attrs

    @property
    def organization(self) -> str:
        return self.text[0]


class Dom(HTMLParser):
    """What a test needs from Chromium's serialized DOM: title, tags seen, the fleet's rows, a few texts."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.tags: list[str] = []
        self.rows: list[Row] = []
        self.shown = ""
        self._stack: list[str] = []
        self._in_body = False
        self._capture: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append(Row(a))
        elif tag == "td" and self._in_body and "data-module" in a:
            self.rows[-1].cells.append(
                Cell(set((a.get("class") or "").split()), a["data-module"] or "", a.get("title") or "")
            )
        if tag == "title":
            self._capture = "title"
        elif a.get("id") == "shown":
            self._capture = "shown"

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        if tag in ("title", "span"):
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture == "title":
            self.title += data
        elif self._capture == "shown":
            self.shown += data
        elif self._in_body and self.rows and data.strip():
            self.rows[-1].text.append(data)

    def visible(self) -> list[Row]:
        return [r for r in self.rows if not r.hidden]


@dataclass
class Fleet:
    url: str
    sim: Simulator
    failing: dict[str, str]  # customer id -> "job type / module" pinned to Failed
    unreachable: str  # customer whose jobs route answers 500
    hostile: dict[str, str]  # customer id -> hostile organization
    healthy: str  # customer whose every job succeeded a minute ago


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("browser")
    with Simulator(FleetSpec(customers=7, seed=3)) as sim:
        ids = sim.customer_ids
        failing = {}
        for cid in ids[:2]:
            row = sim.jobs(cid)[0]
            job_type, module = str(row["jobType"]), str(row["jobModule"])
            sim.pin(cid, job_type, module, status="Failed", jobId=f"failed-{cid[:8]}", failedCount=FAILED_OBJECTS)
            failing[cid] = f"{job_type} / {module}"
        sim.faults.failing_customers = {ids[2]}
        # One customer healthy whatever the simulator's clock makes of the others: every job finished a minute
        # ago, so "problems only" always hides someone (at some times of day every random fleet had a problem).
        done = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 600))
        for n, row in enumerate(sim.jobs(ids[6])):
            sim.pin(
                ids[6],
                str(row["jobType"]),
                str(row["jobModule"]),
                status="Finished",
                jobId=f"FB{n:020d}",
                startTime=started,
                endTime=done,
                lastModifyTime=done,
                failedCount="0",
                warningCount="0",
            )
        hostile = {ids[3]: SCRIPT_NAME, ids[4]: IMG_NAME}
        for cid, name in hostile.items():
            sim.rename_customer(cid, name)
        cfg = tmp / "config.yml"
        cfg.write_text(
            f"api: {{base_url: '{sim.base_url}', token_url: '{sim.token_url}', retries: 0, "
            "max_requests_per_second: 100}\n"
            f"auth: {{client_id: {DEMO_CLIENT_ID}, client_secret_file: secret}}\n"
            "cache: {ttl: 10m}\n"
        )
        (tmp / "secret").write_text(DEMO_CLIENT_SECRET)
        with exporter("--config.file", str(cfg)) as (url, proc):
            wait_until_refreshed(url, proc)
            yield Fleet(url, sim, failing, ids[2], hostile, ids[6])


def test_rows_colours_escaping_and_no_script_ran(fleet: Fleet, tmp_path: Path) -> None:
    text = dump_dom(fleet.url + "/")
    dom = Dom(text)
    assert len(dom.rows) == 7
    assert all(not r.hidden for r in dom.rows)
    assert dom.shown == "7 of 7 customers shown"  # the page's script ran (allowed by the CSP hash)
    by_id = {r.id: r for r in dom.rows}
    for cid, module in fleet.failing.items():
        (cell,) = [c for c in by_id[cid].cells if c.module == module]
        assert "o-failed" in cell.classes
        assert f"failed objects: {FAILED_OBJECTS}" in cell.title and "last success" in cell.title
    # The simulator's clock may fail other modules too: whichever they are, their customers rank as failed.
    for row in dom.rows:
        if any("o-failed" in c.classes for c in row.cells):
            assert row.attrs["data-health"] == "failed"
    # Problems first: the failed rows, then warnings (the unreachable customer among them), then the rest.
    ranks = [{"failed": 0, "warning": 1, "pending": 2, "ok": 3}[r.attrs["data-health"] or ""] for r in dom.rows]
    assert ranks == sorted(ranks)
    unreachable = by_id[fleet.unreachable]
    assert unreachable.attrs["data-health"] in ("warning", "failed")
    assert "HTTPStatusError" in unreachable.text and any(t.startswith(" (request id ") for t in unreachable.text)
    # The hostile names are text, as they were sent; no element came from them and no script ran.
    for cid, name in fleet.hostile.items():
        assert by_id[cid].organization == name
    assert "img" not in dom.tags
    assert dom.tags.count("script") == 1
    assert dom.title.startswith("AvePoint Backup Exporter") and "pwned" not in dom.title
    assert html.escape(SCRIPT_NAME, quote=False) in text and SCRIPT_NAME not in text
    assert DEMO_CLIENT_SECRET not in text
    shot = tmp_path / "status-page.png"
    screenshot(fleet.url + "/", shot)
    assert png_size(shot) == WINDOW


def test_filter_and_problems_only(fleet: Fleet) -> None:
    everyone = Dom(dump_dom(fleet.url + "/")).rows
    target = next(r for r in everyone if r.id not in fleet.hostile)
    # The page's script reads ?filter= and ?problems=1 into the filter box and the toggle and applies them,
    # as it does on every keystroke, so a filtered view is a link.
    dom = Dom(dump_dom(fleet.url + "/?filter=" + quote(target.organization.upper())))
    assert [r.id for r in dom.visible()] == [target.id]
    assert dom.shown == "1 of 7 customers shown"

    dom = Dom(dump_dom(fleet.url + "/?filter=" + quote(fleet.unreachable[:13])))  # part of a customer id
    assert [r.id for r in dom.visible()] == [fleet.unreachable]

    dom = Dom(dump_dom(fleet.url + "/?filter=" + quote("<script>")))  # a hostile name is filtered as text
    assert [r.id for r in dom.visible()] == [cid for cid, name in fleet.hostile.items() if "<script>" in name]

    dom = Dom(dump_dom(fleet.url + "/?problems=1"))
    problems = {r.id for r in everyone if r.attrs["data-problem"] == "1"}
    assert {r.id for r in dom.visible()} == problems
    assert set(fleet.failing) | {fleet.unreachable} <= problems
    assert fleet.healthy not in problems and len(problems) < len(everyone)

    dom = Dom(dump_dom(fleet.url + "/?problems=1&filter=" + quote(target.organization)))
    assert [r.id for r in dom.visible()] == ([target.id] if target.id in problems else [])

    dom = Dom(dump_dom(fleet.url + "/?filter=no-such-customer"))
    assert dom.visible() == [] and dom.shown == "0 of 7 customers shown"


VISIBLE = (
    "JSON.stringify([...document.querySelectorAll('#fleet tbody tr')].filter(r => !r.hidden).map(r => r.dataset.id))"
)


def test_typing_in_the_filter_and_clicking_problems_only(fleet: Fleet, tmp_path: Path) -> None:
    rows = Dom(dump_dom(fleet.url + "/")).rows
    problems = [r.id for r in rows if r.attrs["data-problem"] == "1"]
    target = next(r for r in rows if r.id not in fleet.hostile)
    browser = DevTools(tmp_path / "profile")
    try:
        browser.open(fleet.url + "/")
        assert json.loads(browser.eval(VISIBLE)) == [r.id for r in rows]
        browser.click("#filter")
        browser.send("Input.insertText", text=target.organization[: len(target.organization) // 2 + 3].lower())
        assert json.loads(browser.eval(VISIBLE)) == [target.id]
        assert browser.eval("document.getElementById('shown').textContent") == "1 of 7 customers shown"
        assert browser.eval("location.search").startswith("?filter=")  # the view is a link to share
        browser.eval("document.getElementById('filter').select()")
        browser.send(
            "Input.dispatchKeyEvent", type="keyDown", key="Backspace", code="Backspace", windowsVirtualKeyCode=8
        )
        browser.send("Input.dispatchKeyEvent", type="keyUp", key="Backspace", code="Backspace", windowsVirtualKeyCode=8)
        assert json.loads(browser.eval(VISIBLE)) == [r.id for r in rows]
        browser.click("#problems")
        assert browser.eval("document.getElementById('problems').checked") is True
        assert json.loads(browser.eval(VISIBLE)) == problems
        assert browser.eval("location.search") == "?problems=1"
        assert "pwned" not in browser.eval("document.title")
    finally:
        browser.close()


# --- a fleet larger than a page ---------------------------------------------------------------------------

BIG = 250  # two and a half pages of PAGE_SIZE customers


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The console script with BIG customers; its URL and /status.json's customers (the page's order)."""
    tmp = tmp_path_factory.mktemp("big")
    with Simulator(FleetSpec(customers=BIG, seed=5, jobs_per_customer=3)) as sim:
        cfg = tmp / "config.yml"
        cfg.write_text(
            f"api: {{base_url: '{sim.base_url}', token_url: '{sim.token_url}', retries: 0, "
            "max_requests_per_second: 1000}\n"
            f"auth: {{client_id: {DEMO_CLIENT_ID}, client_secret_file: secret}}\n"
            "cache: {ttl: 1h}\n"
        )
        (tmp / "secret").write_text(DEMO_CLIENT_SECRET)
        with exporter("--config.file", str(cfg)) as (url, proc):
            status = wait_until_refreshed(url, proc, seconds=60)
            yield url, status["customers"]


def shows(ids: list[str]) -> str:
    """A page expression: the visible rows are exactly `ids`, in order."""
    return f"{VISIBLE} === {json.dumps(json.dumps(ids, separators=(',', ':')))}"


def _get(url: str) -> Dom:
    """The page as served, without a browser: what a client without JavaScript gets."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return Dom(response.read().decode())


def test_pages_without_javascript_hold_every_customer_once_problems_first(
    big: tuple[str, list[dict[str, Any]]],
) -> None:
    url, customers = big
    ids = [c["id"] for c in customers]  # /status.json is complete and in the page's order
    assert len(ids) == BIG
    pages = [_get(f"{url}/?page={n}") for n in (1, 2, 3)]
    assert [len(p.rows) for p in pages] == [PAGE_SIZE, PAGE_SIZE, BIG - 2 * PAGE_SIZE]
    assert [r.id for p in pages for r in p.rows] == ids
    assert (
        pages[0].shown
        == f"{PAGE_SIZE} of {BIG} customers shown (rows 1\u2013{PAGE_SIZE} of {BIG} matching, {PAGE_SIZE} per page)"
    )
    assert [r.id for r in _get(f"{url}/?page=99").rows] == ids[2 * PAGE_SIZE :]  # past the end: the last page
    assert [r.id for r in _get(f"{url}/?page=x%00").rows] == ids[:PAGE_SIZE]  # malformed: the first
    problems = [c["id"] for c in customers if c["health"] in ("failed", "warning")]
    seen = []
    for n in range(1, -(-len(problems) // PAGE_SIZE) + 1):  # a page past the last would be the last again
        page = _get(f"{url}/?problems=1&page={n}")
        assert all(r.attrs["data-problem"] == "1" for r in page.rows)
        seen += [r.id for r in page.rows]
    assert seen == problems
    target = ids[-1]  # on the last page of the unfiltered view
    assert [r.id for r in _get(f"{url}/?filter={quote(target.upper())}").rows] == [target]
    assert _get(f"{url}/?filter=no-such-customer").shown == f"0 of {BIG} customers shown"


def test_chromium_opens_filters_and_pages_a_fleet_larger_than_a_page(
    big: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, customers = big
    ids = [c["id"] for c in customers]
    problems = [c["id"] for c in customers if c["health"] in ("failed", "warning")]
    browser = DevTools(tmp_path / "profile")
    try:
        browser.open(url + "/")
        timings = browser.load_timings()
        # A bound that cannot flake (the 5,000-customer figure is the benchmark's, see tests.benchmarks.status_page).
        assert timings["load"] < 10_000, timings
        assert json.loads(browser.eval(VISIBLE)) == ids[:PAGE_SIZE]
        target = ids[-1]
        browser.click("#filter")
        browser.send("Input.insertText", text=target[:-1])  # the server filters: the target is on no page shown
        browser.wait(shows([target]))
        assert browser.eval("document.getElementById('shown').textContent") == f"1 of {BIG} customers shown"
        assert browser.eval("location.search") == "?filter=" + quote(target[:-1], safe="")
        browser.eval("document.getElementById('filter').select()")
        for kind in ("keyDown", "keyUp"):
            browser.send(
                "Input.dispatchKeyEvent", type=kind, key="Backspace", code="Backspace", windowsVirtualKeyCode=8
            )
        browser.wait(f"document.querySelectorAll('#fleet tbody tr').length === {PAGE_SIZE}")
        browser.click("#problems")
        expected = problems[:PAGE_SIZE]
        browser.wait(shows(expected))
        assert browser.eval("location.search") == "?problems=1"
        browser.eval("document.getElementById('problems').click()")  # off again: the whole fleet, paged
        browser.wait(f"document.querySelectorAll('#fleet tbody tr').length === {PAGE_SIZE} && location.search === ''")
        browser.click("#pager a[rel=next]")
        browser.wait("location.search === '?page=2' && document.readyState === 'complete'")
        assert json.loads(browser.eval(VISIBLE)) == ids[PAGE_SIZE : 2 * PAGE_SIZE]
    finally:
        browser.close()

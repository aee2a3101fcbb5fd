"""The status page's paging and server-side filter (paging.py), and the reuse of a slow page (cache.py)."""

from __future__ import annotations

import pytest

from exporter.model import Attempt, Customer, CustomerState, Failure, Job, Outcome, Snapshot
from exporter.web.status import StatusCache, build, cache, paging, render_html
from exporter.web.status.paging import PAGE_SIZE, Query, haystack, select
from tests.support.views import CONFIG, HOUR, NOW, PROCESS


def state(n: int, outcome: Outcome = Outcome.SUCCESS, error: Failure | None = None) -> CustomerState:
    job = Job("Microsoft 365", "Exchange Online", "job-1", "Backup", outcome.value, outcome, end_time=NOW - HOUR)
    attempt = Attempt(error is None, NOW - 30, error)
    return CustomerState(Customer(f"id-{n:04d}", f"Org {n:04d}", "Germany", "Working"), (job,), attempt, {})


def fleet(count: int, failed_every: int = 0, generation: int = 1) -> Snapshot:
    states = tuple(
        state(n, Outcome.FAILED if failed_every and n % failed_every == 0 else Outcome.SUCCESS) for n in range(count)
    )
    return Snapshot(generation, CONFIG, True, Attempt(True, NOW - 60), states, True, 1.0)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", Query()),
        ("filter=%20Org%2001%20&problems=1&page=3", Query("Org 01", True, 3)),
        ("page=0", Query()),
        ("page=-2", Query()),
        ("page=%D9%A3", Query()),  # an Arabic-Indic three: isdigit() but not a page number
        ("page=99999999999", Query()),
        ("problems=yes", Query()),
        ("filter=" + "x" * 500, Query("x" * paging.MAX_FILTER)),
        ("filter=%ED%A0%80", Query("\ufffd" * 3)),  # a lone surrogate's UTF-8: replaced, never an error
        ("page=2&page=5", Query(page=2)),
        ("&".join(["a=1"] * 50) + "&page=2", Query()),  # past parse_qs's field limit: the default view
    ],
)
def test_query_parse_is_lenient(query: str, expected: Query) -> None:
    assert Query.parse(query) == expected


def test_query_link_round_trips() -> None:
    query = Query("a&b c", True, 4)
    assert Query.parse(query.link()[1:]) == query
    assert Query().link() == "" and Query(page=1).link(2) == "?page=2"


def test_pages_cover_the_rows_once_in_order_problems_first() -> None:
    status = build(fleet(2 * PAGE_SIZE + 7, failed_every=10), PROCESS, NOW)
    hay = tuple(haystack(r) for r in status.rows)
    pages = [select(status, hay, Query(page=n)) for n in (1, 2, 3)]
    assert [len(p.rows) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 7]
    assert [r for p in pages for r in p.rows] == list(status.rows)
    assert all(r.health == "failed" for r in pages[0].rows[:21])  # 21 failed rows come first
    assert [(p.page, p.pages, p.first, p.matched) for p in pages] == [
        (1, 3, 1, 207),
        (2, 3, 101, 207),
        (3, 3, 201, 207),
    ]
    assert select(status, hay, Query(page=50)).page == 3
    problems = select(status, hay, Query(problems=True))
    assert problems.matched == 21 and problems.pages == 1
    assert [r.customer_id for r in select(status, hay, Query("ORG 0123")).rows] == ["id-0123"]
    assert select(status, hay, Query("no such")).rows == () and select(status, hay, Query("no such")).first == 0


def test_the_filter_matches_reasons_and_refresh_errors() -> None:
    broken = state(1, error=Failure("HTTPStatusError", "HTTP 503 Service Unavailable", None))
    snap = Snapshot(1, CONFIG, True, Attempt(True, NOW - 60), (state(0), broken), True, 1.0)
    status = build(snap, PROCESS, NOW)
    hay = tuple(haystack(r) for r in status.rows)
    assert [r.customer_id for r in select(status, hay, Query("503 service")).rows] == ["id-0001"]
    assert [r.customer_id for r in select(status, hay, Query("refresh failed")).rows] == ["id-0001"]


def test_the_page_renders_only_its_rows_with_a_pager_and_the_form_keeps_the_view() -> None:
    status = build(fleet(PAGE_SIZE + 1), PROCESS, NOW)
    _, tail = render_html(status, Query("org", False, 2))
    assert tail.count("<tr class=") == 1 and 'data-id="id-0100"' in tail
    assert 'value="org"' in tail and 'name="problems" value="1" type="checkbox">' in tail
    assert '<a href="?filter=org" rel="first"' in tail and '<a href="?filter=org" rel="prev"' in tail
    assert 'data-complete="0"' in tail and "data-search" not in tail
    _, small = render_html(build(fleet(3), PROCESS, NOW))
    assert 'data-complete="1"' in small and small.count("data-search=") == 3 and 'id="pager" hidden' in small


def test_a_slow_page_serves_newer_generations_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = StatusCache(PROCESS, wall_clock=lambda: NOW)
    first = pages.get(fleet(3, generation=1))
    assert pages.get(fleet(3, generation=2)) is not first  # fast builds: one per generation
    monkeypatch.setattr(cache, "SLOW_BUILD", 0.0)  # every build counts as slow
    monkeypatch.setattr(cache, "REUSE", 1e6)
    kept = pages.get(fleet(3, generation=3))
    assert kept.generation == 2 and pages.get(fleet(3, generation=4)) is kept and pages.builds == 2
    monkeypatch.setattr(cache, "REUSE", 0.0)  # its time is up
    assert pages.get(fleet(3, generation=5)).generation == 5 and pages.builds == 3


def test_a_hostile_filter_is_reflected_as_text() -> None:
    hostile = '"><script>alert(1)</script>'
    _, tail = render_html(build(fleet(PAGE_SIZE + 1), PROCESS, NOW), Query(hostile, page=1))
    assert hostile not in tail and 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in tail
    _, paged = render_html(build(fleet(2 * PAGE_SIZE + 1), PROCESS, NOW), Query("<b>", page=1))
    assert "<b>" not in paged.split("<script>")[0]

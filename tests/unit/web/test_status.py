"""The status page: escaping, order, colours, JSON, built once per generation, headers, auth, speed."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry

from avepoint_simulator import DEMO_CLIENT_SECRET, FleetSpec, Simulator
from exporter import __version__, config
from exporter.exposition.telemetry import Telemetry
from exporter.model import Attempt, Customer, CustomerState, Failure, Job, Outcome, Snapshot
from exporter.refresh import Refresher
from exporter.shard import Shard
from exporter.web import App, Server, serve_in_thread, status
from tests.benchmarks import status_page
from tests.support import ROOT
from tests.support.pki import Pki
from tests.support.views import CONFIG, HOUR, NOW, PROCESS
from tests.support.web import ALICE, security, serving

HOSTILE = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "</td></tr></table><h1>owned</h1>",
)


def job(
    module: str = "Exchange Online",
    outcome: Outcome = Outcome.SUCCESS,
    *,
    job_type: str = "Microsoft 365",
    status_text: str | None = None,
    job_id: str | None = "job-1",
    failed: int | None = 0,
) -> Job:
    return Job(
        job_type,
        module,
        job_id,
        "Backup",
        status_text if status_text is not None else outcome.value.title(),
        outcome,
        failed_objects=failed,
        end_time=NOW - HOUR,
    )


def customer(
    cid: str,
    organization: str,
    *jobs: Job,
    attempt: Attempt | None = None,
    last_success: dict[tuple[str, str], float] | None = None,
    status_text: str = "Working",
) -> CustomerState:
    seen = last_success if last_success is not None else {j.key: NOW - 2 * HOUR for j in jobs}
    return CustomerState(
        Customer(cid, organization, "Germany", status_text),
        tuple(jobs),
        attempt if attempt is not None else Attempt(True, NOW - 30),
        seen,
    )


def snapshot(*states: CustomerState, generation: int = 1, cfg: config.Config = CONFIG, **kw: Any) -> Snapshot:
    values: dict[str, Any] = {"up": True, "listing": Attempt(True, NOW - 60), "refreshed": True}
    values.update(kw)
    return Snapshot(
        generation,
        cfg,
        values["up"],
        values["listing"],
        tuple(states),
        values["refreshed"],
        values.get("last_refresh_seconds", 1.25),
    )


def page(snap: Snapshot, process: status.Process = PROCESS) -> str:
    head, tail = status.render_html(status.build(snap, process, NOW))
    return head + tail


class Tags(HTMLParser):
    """Every element and attribute a browser would build from the page, and its text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


# --- escaping ----------------------------------------------------------------------------------------


def test_hostile_strings_from_the_api_are_text() -> None:
    states = [
        customer(
            f"id-{i}{name}",
            name,
            job(name, Outcome.FAILED, job_type=name, status_text=name),
            attempt=Attempt(False, NOW - HOUR, Failure("HTTPStatusError", f"HTTP 500 ({name})", name)),
            status_text=name,
        )
        for i, name in enumerate(HOSTILE)
    ]
    snap = snapshot(*states, listing=Attempt(False, None, Failure("AuthError", HOSTILE[0], HOSTILE[1])))
    text = page(snap)
    for name in HOSTILE:
        assert name not in text
    parsed = Tags(text)
    # The page's own elements only: nothing came from a name.
    assert set(parsed.tags) <= {
        "html", "head", "meta", "link", "title", "style", "body", "h1", "ul", "li", "span", "p", "nav", "a",
        "div", "form", "label", "input", "button", "table", "thead", "tbody", "tr", "th", "td", "br", "script",
    }  # fmt: skip
    assert parsed.tags.count("script") == 1 and "img" not in parsed.tags and "h1" in parsed.tags
    assert parsed.tags.count("h1") == 1
    assert not [name for name, _ in parsed.attrs if name.startswith("on")]
    joined = "".join(parsed.text)
    for name in HOSTILE:
        assert name in joined  # shown as the text it is
    # Attribute values hold them verbatim too (a title is text as well).
    assert {value for _, value in parsed.attrs} >= {f"{n} / {n}" for n in HOSTILE}


def test_escaping_in_the_header_and_links() -> None:
    cfg = replace(CONFIG, api=replace(CONFIG.api, base_url='https://user:pa"ss@api.example/<x>?token=abc#frag'))
    cid = 'c&1"/?x=<y>'
    text = page(snapshot(customer(cid, "Org"), cfg=cfg))
    assert "pa&quot;ss" not in text and 'pa"ss' not in text and "user" not in text and "token" not in text
    assert "https://api.example/&lt;x&gt; (legacy)" in text
    assert 'href="probe?customer_id=c%261%22%2F%3Fx%3D%3Cy%3E"' in text


def test_no_secret_on_the_page_or_in_json() -> None:
    snap = snapshot(customer("c1", "Org", job()))
    assert DEMO_CLIENT_SECRET not in page(snap)
    assert DEMO_CLIENT_SECRET.encode() not in status.render_json(status.build(snap, PROCESS, NOW))


# --- content ---------------------------------------------------------------------------------------------


def test_problems_first_then_by_organization() -> None:
    interval = CONFIG.jobs.expected_interval
    states = [
        customer("a", "alpha", job()),
        customer("z", "Zulu", job(), job("OneDrive", Outcome.FAILED)),
        customer("m", "Mike", job(), last_success={("Microsoft 365", "Exchange Online"): NOW - 2 * interval}),
        customer("b", "Bravo", job(), attempt=Attempt(False, NOW - HOUR, Failure("UpstreamTimeout", "timed out"))),
        customer("c", "Charlie", attempt=Attempt()),  # listed, not fetched yet
        customer("y", "yankee", job("Teams", Outcome.WARNING, failed=3)),
        customer("n", "November", job("Gmail", Outcome.NOT_RUN, job_id=None, job_type="Google Workspace")),
    ]
    view = status.build(snapshot(*states), PROCESS, NOW)
    assert [(r.organization, r.health) for r in view.rows] == [
        ("Zulu", "failed"),
        ("Bravo", "warning"),
        ("Mike", "warning"),
        ("November", "warning"),
        ("yankee", "warning"),
        ("Charlie", "pending"),
        ("alpha", "ok"),
    ]
    reasons = {r.organization: r.reasons for r in view.rows}
    assert reasons["Zulu"] == ("1 failed",)
    assert reasons["Bravo"] == ("jobs refresh failed",)
    assert reasons["Mike"] == ("1 stale",)
    assert reasons["November"] == ("1 never run",)
    assert reasons["yankee"] == ("1 warning", "1 with failed objects")
    assert view.header.problem_customers == 5 and view.header.customers == 7 and view.header.jobs == 7
    text = page(snapshot(*states))
    assert text.index(">Zulu<") < text.index(">Bravo<") < text.index(">Charlie<") < text.index(">alpha<")
    assert 'data-problem="1" data-id="z"' in text and 'data-problem="0" data-id="a"' in text


def test_cells_are_coloured_by_outcome_with_failed_objects_and_last_success_in_the_title() -> None:
    jobs = [job(f"M-{o.value}", o, failed=12 if o is Outcome.FAILED else 0) for o in Outcome]
    text = page(snapshot(customer("c1", "Org", *jobs)))
    for o in Outcome:
        cell = re.search(rf'<td class="o o-{o.value}" data-module="Microsoft 365 / M-{o.value}" title="([^"]*)">', text)
        assert cell is not None, o
        assert f".o-{o.value}{{background:" in status.STYLE
        assert status.GLYPHS[o] in text
    failed = re.search(r'<td class="o o-failed"[^>]* title="([^"]*)">', text)
    assert failed is not None
    title = failed.group(1)
    assert "failed objects: 12" in title
    assert "last success: 2 h ago (2027-01-15 06:00:00 UTC)" in title
    assert title.startswith("Microsoft 365 / M-failed\nFailed (failed)")
    # One column per module of the fleet, grouped by job type; a customer without a module has an empty cell.
    other = customer("c2", "Other", job("Gmail", job_type="Google Workspace"))
    text = page(snapshot(customer("c1", "Org", *jobs), other))
    assert '<th class="g" colspan="1" title="Google Workspace">' in text
    assert f'<th class="g" colspan="{len(jobs)}" title="Microsoft 365">' in text
    assert text.count("<td></td>") == len(jobs) + 1  # Other's row: every Microsoft 365 module; Org's: Gmail


def test_stale_and_never_run_follow_the_alerts() -> None:
    interval = 6 * HOUR
    cfg = replace(CONFIG, jobs=replace(CONFIG.jobs, expected_interval=interval))
    fresh = customer("f", "Fresh", job(), last_success={("Microsoft 365", "Exchange Online"): NOW - 1.4 * interval})
    stale = customer("s", "Stale", job(), last_success={("Microsoft 365", "Exchange Online"): NOW - 1.6 * interval})
    never = customer("n", "Never", job(outcome=Outcome.NOT_RUN, job_id=None), last_success={})
    skipped = customer("k", "Skipped", job(outcome=Outcome.NOT_RUN), last_success={})
    view = status.build(snapshot(fresh, stale, never, skipped, cfg=cfg), PROCESS, NOW)
    cells = {r.customer_id: r.cells[0] for r in view.rows}
    assert not cells["f"].stale and cells["s"].stale
    assert cells["n"].never_run and not cells["k"].never_run
    assert {r.customer_id: r.health for r in view.rows} == {"s": "warning", "n": "warning", "f": "ok", "k": "ok"}
    text = page(snapshot(fresh, stale, cfg=cfg))
    assert 'class="o o-success stale"' in text and "expected every 6 h: STALE" in text


def test_header_says_what_runs_and_how_it_fares() -> None:
    cfg = config.from_mapping(
        {
            "api": {"base_url": "https://graph-de.example.com", "version": "v3"},
            "auth": {"client_id": "id", "client_secret": DEMO_CLIENT_SECRET},
            "cache": {"ttl": "5m"},
        }
    )
    process = status.Process("9.9.9", NOW - 3 * HOUR, Shard(2, 3))
    snap = snapshot(customer("c1", "Org", job(), job("OneDrive")), cfg=cfg, last_refresh_seconds=12.5)
    text = page(snap, process)
    for fact in (
        "Version: 9.9.9",
        "API: https://graph-de.example.com (v3)",
        "Auth: client secret",
        "Shard: 2 of 3",
        "Cache TTL: 5 min",
        "Last full refresh: 2027-01-15 07:59:00 UTC (1 min ago, took 12.5 s)",
        'avepoint_up: <span class="good">1</span>',
        "Customers: 1 (0 with problems)",
        "Jobs: 2",
    ):
        assert f"<li>{fact}</li>" in text, fact
    for link in (
        'href="metrics"',
        'href="status.json"',
        'href="-/healthy"',
        'href="-/ready"',
        'href="probe?customer_id=c1"',
    ):
        assert link in text
    view = status.build(snap, process, NOW)
    live = status.live_line(view, NOW + 90)
    assert "Up 3 h 1 min." in live and "as of 2027-01-15 08:00:00 UTC, 1 min ago" in live
    # The listing fails: avepoint_up 0 with the error's class and request id, not its details.
    down = snapshot(
        customer("c1", "Org", job()),
        up=False,
        listing=Attempt(False, NOW - HOUR, Failure("AuthError", "HTTP 401, token refused", "r-42")),
    )
    text = page(down)
    assert (
        'avepoint_up: <span class="bad">0</span> (<span class="err" title="HTTP 401, token refused">AuthError</span>'
        " (request id r-42))" in text
    )


def test_refresh_state_per_customer() -> None:
    failed = customer(
        "c1", "Org", job(), attempt=Attempt(False, NOW - HOUR, Failure("HTTPStatusError", "HTTP 503", "rid-7"))
    )
    row = status.build(snapshot(failed), PROCESS, NOW).rows[0]
    (refresh,) = row.refresh
    assert refresh.error == Failure("HTTPStatusError", "HTTP 503", "rid-7")
    assert row.data_age(NOW) == HOUR
    text = page(snapshot(failed))
    assert (
        '<td class="refresh"><span class="bad">failed</span> <span class="err" title="HTTP 503">HTTPStatusError'
        "</span> (request id rid-7), last success 2027-01-15 07:00:00 UTC</td>" in text
    )
    assert '<td class="age">1 h</td>' in text


@pytest.mark.parametrize(
    ("failure", "text"),
    [
        (Failure("HTTPStatusError", "HTTP 500", "abc"), "HTTPStatusError: HTTP 500 (request id abc)"),
        (Failure("UpstreamTimeout", "timed out"), "UpstreamTimeout: timed out"),
        (Failure("AuthError", "HTTP 403", "r1", "t1"), "AuthError: HTTP 403 (request id r1, trace id t1)"),
    ],
)  # fmt: skip
def test_a_failure_prints_as_a_log_line_would(failure: Failure, text: str) -> None:
    assert str(failure) == text


# --- JSON --------------------------------------------------------------------------------------------------


def test_json_has_the_same_data_in_the_same_order() -> None:
    states = [
        customer("a", "Alpha", job()),
        customer("z", "Zulu", job(failed=5), job("OneDrive", Outcome.FAILED, failed=9)),
    ]
    view = status.build(snapshot(*states, generation=7), PROCESS, NOW)
    data = json.loads(status.render_json(view))
    assert set(data) == {"generated_timestamp_seconds", "exporter", "customers"}
    assert data["generated_timestamp_seconds"] == NOW
    exporter = data["exporter"]
    assert exporter == {
        "version": __version__,
        "started_timestamp_seconds": NOW - 2 * HOUR,
        "api": {"base_url": "https://graph.avepointonlineservices.com", "version": "legacy"},
        "auth_method": "client_secret",
        "shard": {"index": 0, "count": 1},
        "cache_ttl_seconds": 300.0,
        "up": True,
        "ready": True,
        "last_refresh": {"timestamp_seconds": NOW - 60, "duration_seconds": 1.25, "error": None},
        "services": None,
        "customers": 2,
        "customers_with_problems": 1,
        "jobs": 3,
    }
    assert [c["id"] for c in data["customers"]] == [r.customer_id for r in view.rows] == ["z", "a"]
    zulu = data["customers"][0]
    assert zulu["organization"] == "Zulu" and zulu["health"] == "failed" and zulu["status"] == "Working"
    assert zulu["problems"] == ["1 failed", "1 with failed objects"]
    assert zulu["data_age_seconds"] == 30
    assert zulu["refresh"] == [
        {
            "endpoint": "jobs",
            "success": True,
            "last_success_timestamp_seconds": NOW - 30,
            "age_seconds": 30,
            "error": None,
        }
    ]
    assert zulu["jobs"][1] == {
        "job_type": "Microsoft 365",
        "job_module": "OneDrive",
        "status": "Failed",
        "outcome": "failed",
        "failed_objects": 9,
        "end_timestamp_seconds": NOW - HOUR,
        "last_success_timestamp_seconds": NOW - 2 * HOUR,
        "seconds_since_last_success": 2 * HOUR,
        "expected_interval_seconds": 86400.0,
        "stale": False,
        "never_run": False,
        "kind": "backup",
    }


# --- the cache and the server --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_refresher() -> Iterator[tuple[Simulator, Refresher]]:
    sim = Simulator(FleetSpec(customers=5, seed=2))
    refresher = Refresher(CONFIG, status_page.SimulatorRows(sim))
    cycle = refresher.trigger()
    assert cycle is not None
    cycle.result()
    try:
        yield sim, refresher
    finally:
        refresher.close()


def make_app(refresher: Refresher) -> App:
    registry = CollectorRegistry()
    return App(lambda: refresher, registry, Telemetry(registry), shard=Shard(0, 1))


def test_built_once_per_generation(sim_refresher: tuple[Simulator, Refresher]) -> None:
    sim, refresher = sim_refresher
    app = make_app(refresher)
    first = [app.landing().body for _ in range(3)] + [app.status_json().body for _ in range(3)]
    assert app.status.builds == 1
    assert app.status.get(refresher.snapshot()) is app.status.get(refresher.snapshot())
    assert first[0] is first[1] and first[3] is first[4]  # the same bytes, not equal ones built again
    refresher.reconfigure(CONFIG, status_page.SimulatorRows(sim))  # publishes a new generation
    app.landing()
    app.status_json()
    assert app.status.builds == 2


def test_serving_the_cached_page_for_1000_customers_takes_under_50_ms() -> None:
    result = status_page.measure(1000, requests_count=15)
    print("\n" + result.report())
    assert result.customers == 1000
    assert result.builds == 0, "every request was served from the cache"
    assert max(result.serve_seconds) < 0.050
    assert sorted(result.http_seconds)[len(result.http_seconds) // 2] < 0.050


def _csp_hashes(text: str, tag: str) -> str:
    match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
    assert match is not None
    return "'sha256-" + base64.b64encode(hashlib.sha256(match.group(1).encode()).digest()).decode() + "'"


def test_headers_gzip_and_json_over_http(sim_refresher: tuple[Simulator, Refresher]) -> None:
    _, refresher = sim_refresher
    server = Server(("127.0.0.1", 0), make_app(refresher))
    serve_in_thread(server)
    try:
        plain = requests.get(server.url + "/", headers={"Accept-Encoding": "identity"}, timeout=10)
        assert plain.status_code == 200 and plain.headers["Content-Type"] == "text/html; charset=utf-8"
        csp = plain.headers["Content-Security-Policy"]
        assert csp == status.CSP_HTML and csp.startswith("default-src 'none'; ")
        # The inline script and style run by their hashes, nothing else: no external loads, no injected code.
        assert f"script-src {_csp_hashes(plain.text, 'script')};" in csp
        assert f"style-src {_csp_hashes(plain.text, 'style')};" in csp
        assert "unsafe-inline" not in csp and "http" not in csp
        assert plain.headers["X-Content-Type-Options"] == "nosniff"
        assert "Customers: 5" in plain.text

        packed = requests.get(server.url + "/", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=10)
        raw = packed.raw.read()
        assert packed.headers["Content-Encoding"] == "gzip"
        decoder = zlib.decompressobj(wbits=31)  # one gzip member, as curl and browsers expect
        unpacked = decoder.decompress(raw)
        assert decoder.eof and not decoder.unused_data and unpacked == gzip.decompress(raw)
        live = re.compile(rb'<p class="live">.*?</p>')
        assert live.sub(b"", unpacked) == live.sub(b"", plain.content)

        data = requests.get(server.url + "/status.json", timeout=10)
        assert data.headers["Content-Type"] == "application/json; charset=utf-8"
        assert data.headers["X-Content-Type-Options"] == "nosniff"
        assert data.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
        customers = data.json()["customers"]
        assert len(customers) == 5
        assert [c["id"] for c in customers] == re.findall(r'data-id="([^"]+)"', plain.text)
        assert requests.head(server.url + "/status.json", timeout=10).status_code == 200
        assert requests.post(server.url + "/status.json", timeout=10).status_code == 405
    finally:
        server.shutdown()
        server.server_close()


def test_the_page_never_waits_for_the_upstream() -> None:
    with Simulator(FleetSpec(customers=3, seed=4)) as sim:
        sim.faults.latency = 3.0
        cfg = replace(CONFIG, api=replace(CONFIG.api, base_url=sim.base_url, token_url=sim.token_url))
        from exporter.upstream import Client

        refresher = Refresher(cfg, Client(cfg.api, cfg.auth))
        try:
            app = make_app(refresher)
            started = time.monotonic()
            response = app.landing()
            assert time.monotonic() - started < 1.0
            assert b"Last full refresh: not yet" in response.body + b"".join(response.more)
            cycle = refresher.trigger()  # the page started the refresh; it runs on
            assert cycle is not None and not cycle.done()
        finally:
            refresher.close()


def test_status_pages_need_the_same_basic_auth_as_metrics(pki: Pki) -> None:
    with Simulator(FleetSpec(customers=2, seed=7)) as sim, serving(sim, security(pki, users=dict([ALICE]))) as server:
        for path in ("/", "/status.json", "/metrics"):
            denied = requests.get(server.url + path, timeout=10)
            assert denied.status_code == 401, path
            assert "Organization" not in denied.text and "customers" not in denied.text
            assert requests.get(server.url + path, auth=ALICE, timeout=10).status_code == 200, path
        assert requests.get(server.url + "/status.json", auth=("alice", "wrong"), timeout=10).status_code == 401


def test_status_pages_over_tls(pki: Pki) -> None:
    with Simulator(FleetSpec(customers=2, seed=7)) as sim, serving(sim, security(pki, tls={})) as server:
        assert server.url.startswith("https://")
        for path in ("/", "/status.json"):
            assert requests.get(server.url + path, verify=str(pki.ca), timeout=10).status_code == 200


def test_a_header_from_the_web_config_replaces_the_pages_own(pki: Pki) -> None:
    headers = {"Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff"}
    with Simulator(FleetSpec(customers=1, seed=7)) as sim, serving(sim, security(pki, headers=headers)) as server:
        response = requests.get(server.url + "/", timeout=10)
        assert response.headers["Content-Security-Policy"] == "default-src 'none'"  # once, not both
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_screenshot_in_the_readme_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "![The status page" in readme and "(docs/status-page.png)" in readme
    assert "python -m tests.screenshot docs/status-page.png" in readme
    png = (ROOT / "docs" / "status-page.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")

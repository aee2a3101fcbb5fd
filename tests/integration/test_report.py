"""The monthly report end to end: the shared month of exporter history (tests/support/month.py, backfilled into a
real Prometheus once per run), `report` run as a console script, its HTML checked against what the month held,
its PDF turned into PNG pages and text (poppler-utils), its errors, the gauges-only fallback, TLS and auth.
Every number of every row is checked by test_report_month.py; these check the rest of the page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.support import free_port
from tests.support.harness import SCRIPT, start_prometheus, stop_processes
from tests.support.month import DAY, HOSTILE_NAME, Backfilled, CustomerTruth, Month
from tests.support.pki import bcrypt_hash, make_pki

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) is not installed"),
]
RETENTION = ("--storage.tsdb.retention.time=1y",)


def report(url: str, out: Path, month: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, "report", "--prometheus.url", url, "--month", month, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


class Tables(HTMLParser):
    """Every table of a page by id, as rows of cell texts; and the text of elements with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.texts: dict[str, str] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._ids: list[tuple[str, str, int]] = []  # (id, tag, depth)
        self._depth = 0
        self._open: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("br", "img", "meta", "rect", "path", "circle", "line"):
            if tag == "br" and self._cell is not None:
                self._cell.append(" ")
            return
        self._depth += 1
        if a.get("id"):
            self._ids.append((str(a["id"]), tag, self._depth))
            self._open[str(a["id"])] = []
        if tag == "table":
            self._table = str(a.get("id"))
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        if tag == "table":
            self._table = None
        while self._ids and self._ids[-1][2] == self._depth and self._ids[-1][1] == tag:
            ident = self._ids.pop()[0]
            self.texts[ident] = re.sub(r"\s+", " ", "".join(self._open.pop(ident))).strip()
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for ident in self._open:
            self._open[ident].append(data)


def parse(path: Path) -> Tables:
    page = Tables()
    page.feed(path.read_text())
    return page


def utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def page_of(out: Path, customer: CustomerTruth, month: Month) -> Path:
    return out / f"report-{customer.id}-{month.plan.month}.html"


def first(month: Month) -> CustomerTruth:
    """The customer measured all month, with the outage and the never-run module."""
    return next(iter(month.customers.values()))


def added(month: Month) -> CustomerTruth:
    (customer,) = [c for c in month.customers.values() if c.first_exported > month.start]
    return customer


@pytest.fixture
def written(month_report: Path) -> Path:
    """The report of the shared month (tests/conftest.py), written once per run."""
    return month_report


def week(month_prometheus: Backfilled) -> Month:
    """The gauges-only week beside the month: small, for the tests of flags and errors (reports in ~1 s)."""
    (month,) = month_prometheus.others
    return month


def test_with_only_the_gauges_the_runs_are_rebuilt_from_them(month_prometheus: Backfilled, tmp_path: Path) -> None:
    (month,) = month_prometheus.others
    assert not month.plan.counters
    done = report(month_prometheus.url, tmp_path, month.plan.month, "--pdf", "off")
    assert done.returncode == 0, done.stderr
    end = month.start + month.plan.days * DAY
    checked = 0
    for customer in month.customers.values():
        path = page_of(tmp_path, customer, month)
        assert "no avepoint_backup_job_runs_total" in path.read_text()
        rows = {r[0]: r for r in parse(path).tables["jobs"][1:]}
        for (job_type, module), job in customer.jobs.items():
            if job.never_ran:
                continue
            runs = job.finished(month.start, end)
            assert rows[f"{job_type} / {module}"][1:3] == [
                str(len(runs)), str(sum(r.outcome == "failed" for r in runs))
            ], (customer.id, module)  # fmt: skip
            checked += 1
    assert checked > 3


def test_the_customer_added_mid_month_is_not_measured_before_it_and_never_drawn_as_zero(
    month_prometheus: Backfilled, written: Path
) -> None:
    month = month_prometheus.month
    customer = added(month)
    page = parse(page_of(written, customer, month))
    since = utc(customer.first_exported)
    hole = (utc(month.instances[0][1]), utc(month.instances[1][0]))
    assert page.texts["measured"] == f"Not measured before {since}; not measured from {hole[0]} to {hole[1]}."
    assert all(f"not measured before {since}" in row[0] for row in page.tables["jobs"][1:])
    # The chart has a bar per measured day only: days before the customer came are absent, not 0.
    svg = page_of(written, customer, month).read_text()
    daily = svg[svg.index("<figure id=daily>") : svg.index("<figure id=size>")]
    successful = daily[daily.index("serie-0") : daily.index("serie-1")]
    day_added = datetime.fromtimestamp(customer.first_exported, UTC).day
    assert successful.count('class="bar"') == month.plan.days - day_added + 1


def test_the_daily_chart_adds_up_to_the_table(month_prometheus: Backfilled, written: Path) -> None:
    month = month_prometheus.month
    for customer in month.customers.values():
        body = page_of(written, customer, month).read_text()
        page = parse(page_of(written, customer, month))
        daily = body[body.index("<figure id=daily>") : body.index("<figure id=size>")]
        bars = [int(v) for v in re.findall(r'<desc class="value">(\d+)</desc>', daily)]
        assert sum(bars) == sum(int(r[1]) for r in page.tables["jobs"][1:]), customer.id


def test_the_restart_shows_as_a_hole_and_breaks_the_size_lines(month_prometheus: Backfilled, written: Path) -> None:
    month = month_prometheus.month
    customer = first(month)
    page = parse(page_of(written, customer, month))
    before, after = utc(month.instances[0][1]), utc(month.instances[1][0])
    assert page.texts["measured"] == f"Not measured from {before} to {after}."
    # The size chart breaks each module's line at the hole instead of bridging it: two segments per module.
    body = page_of(written, customer, month).read_text()
    size = body[body.index("<figure id=size>") :]
    drawn = sorted(f"{t} / {m}" for (t, m), j in customer.jobs.items() if not j.never_ran)
    assert len(re.findall(r'<path d="M[^"]*" class="line reactive nofill"', size)) == 2 * len(drawn)
    legend = re.findall(r'<li><span class="swatch" style="background:#[0-9a-f]{6}"></span>([^<]*)</li>', size)
    assert legend == drawn


def test_names_from_the_api_are_escaped(month_prometheus: Backfilled, written: Path) -> None:
    month = month_prometheus.month
    customer = added(month)
    assert customer.organization == HOSTILE_NAME
    body = page_of(written, customer, month).read_text()
    assert "<script" not in body and "<b>" not in body
    assert "Beta &lt;script&gt;alert&lt;/script&gt; &amp; &#x27;Sons&#x27; &lt;b&gt;" in body
    assert "Contoso &lt;MSP&gt;" in body
    fleet = (written / f"fleet-{month.plan.month}.html").read_text()
    assert "<script" not in fleet and "&lt;script&gt;" in fleet
    # Self-contained: nothing to fetch from anywhere.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", body)


def test_fleet_page_has_a_row_per_customer(month_prometheus: Backfilled, written: Path) -> None:
    from tests.integration.test_report_month import counted  # it imports this module

    month = month_prometheus.month
    fleet = parse(written / f"fleet-{month.plan.month}.html").tables["fleet"]
    rows = {r[0].split(" not measured")[0]: r for r in fleet[1:]}
    assert set(rows) == {c.organization for c in month.customers.values()}
    for customer in month.customers.values():
        runs = [r for j in customer.jobs.values() for r in counted(customer, j, month)]
        good = sum(r.outcome in ("success", "warning") for r in runs)
        judged = sum(r.outcome != "canceled" for r in runs)
        row = rows[customer.organization]
        assert row[1] == f"{good / judged * 100:.1f} %", customer.id
        assert row[2] == str(sum(r.outcome == "failed" for r in runs)), customer.id


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="chromium is not installed")
def test_the_pdf_has_pages_and_the_numbers(month_prometheus: Backfilled, written: Path, tmp_path: Path) -> None:
    month = month_prometheus.month
    customer = first(month)
    pdf = page_of(written, customer, month).with_suffix(".pdf")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 1 <= len(pages) <= 4
    assert all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for p in pages)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert f"Backup report: {customer.organization}" in text
    ratio = parse(page_of(written, customer, month)).tables["jobs"][1][3]
    assert ratio in text
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Page size:\s+59[45]\.\d+ x 841\.\d+ pts \(A4\)", info), info


def test_letter_paper_and_a_time_zone(month_prometheus: Backfilled, tmp_path: Path) -> None:
    month = week(month_prometheus)
    customer = first(month)
    done = report(month_prometheus.url, tmp_path, month.plan.month, "--customer", customer.id,
                  "--timezone", "America/New_York", "--paper", "letter")  # fmt: skip
    assert done.returncode == 0, done.stderr
    if Path("/usr/bin/chromium").exists() and shutil.which("pdfinfo"):
        info = subprocess.run(
            ["pdfinfo", str(page_of(tmp_path, customer, month).with_suffix(".pdf"))], capture_output=True, text=True
        ).stdout
        assert "612 x 792 pts (letter)" in info
    page = parse(page_of(tmp_path, customer, month))
    zone = ZoneInfo("America/New_York")
    # Dates in New York's time: the week's outage failed runs, shown at their local start.
    failed = sorted(r.start for j in customer.jobs.values() for r in j.runs if r.outcome == "failed" and r.end)
    assert failed and page.tables["failed"][1][0] == datetime.fromtimestamp(failed[0], zone).strftime("%Y-%m-%d %H:%M")
    assert len(list(tmp_path.glob("report-*.html"))) == 1


def test_display_name_override_and_logo(month_prometheus: Backfilled, tmp_path: Path) -> None:
    month = week(month_prometheus)
    customer = list(month.customers.values())[1]
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    out = tmp_path / "out"
    done = report(
        month_prometheus.url, out, month.plan.month, "--customer", customer.id, "--customer-name",
        f"{customer.id}=Beta & Co", "--msp.logo", str(logo), "--pdf", "off",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = page_of(out, customer, month).read_text()
    assert "<h1>Backup report: Beta &amp; Co</h1>" in body
    assert '<img src="data:image/png;base64,iVBORw0KGgo' in body
    assert not list(out.glob("*.pdf"))


def test_bad_input_gets_a_clear_error_and_exit_code(month_prometheus: Backfilled, tmp_path: Path) -> None:
    url, month = month_prometheus.url, week(month_prometheus).plan.month
    cases = [
        (report("http://127.0.0.1:9", tmp_path / "a", month), 1, "cannot connect"),
        (report(url + "/no/such/prefix", tmp_path / "b", month), 1, "HTTP 404"),
        (report(url, tmp_path / "c", "2026-13"), 2, "is not a month as YYYY-MM"),
        (report(url, tmp_path / "d", "2999-01"), 2, "has not started yet"),
        (report(url, tmp_path / "e", month, "--customer", "c-nobody"), 3, "customer c-nobody: Prometheus has no"),
        (report(url, tmp_path / "f", "2001-01"), 3, "has no avepoint_customer_info samples in 2001-01"),
        (report(url, tmp_path / "e", month, "--timezone", "Mars/Olympus"), 2, "unknown time zone"),
        (report(url, tmp_path / "e", month, "--customer-name", "oops"), 2, "is not ID=NAME"),
        (report(url, tmp_path / "e", month, "--prometheus.selector", "job=x"), 2, "is not label matchers"),
    ]
    (tmp_path / "file").write_text("")
    cases.append((report(url, tmp_path / "file" / "sub", month), 4, "--out: cannot write to"))
    (tmp_path / "logo.txt").write_text("hello")
    cases.append((report(url, tmp_path / "g", month, "--msp.logo", str(tmp_path / "logo.txt")), 2, "not a PNG"))
    for done, code, message in cases:
        assert done.returncode == code, (done.args, done.stderr)
        assert message in done.stderr, (done.args, done.stderr)
        assert "Traceback" not in done.stderr


def test_pdf_engine_missing_or_failing(month_prometheus: Backfilled, tmp_path: Path) -> None:
    month = week(month_prometheus)
    customer = first(month)
    env = {**os.environ, "CHROMIUM": str(tmp_path / "no-such-chromium")}
    args = [SCRIPT, "report", "--prometheus.url", month_prometheus.url, "--month", month.plan.month,
            "--customer", customer.id]  # fmt: skip
    missing = subprocess.run([*args, "--out", str(tmp_path / "a")], capture_output=True, text=True, env=env)
    assert missing.returncode == 0, missing.stderr
    assert "PDF: no Chromium found" in missing.stdout and not list((tmp_path / "a").glob("*.pdf"))
    assert page_of(tmp_path / "a", customer, month).exists()
    env["CHROMIUM"] = shutil.which("false") or "/bin/false"
    failing = subprocess.run([*args, "--out", str(tmp_path / "b")], capture_output=True, text=True, env=env)
    assert failing.returncode == 4 and "PDF: " in failing.stderr and "exited 1" in failing.stderr, failing.stderr


def test_tls_client_certificate_and_basic_auth(month_prometheus: Backfilled, tmp_path: Path) -> None:
    month = week(month_prometheus)
    customer = first(month)
    pki = make_pki(tmp_path / "pki")
    web = tmp_path / "web.yml"
    web.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(pki.server.cert),
                    "key_file": str(pki.server.key),
                    "client_auth_type": "RequireAndVerifyClientCert",
                    "client_ca_file": str(pki.client_ca),
                },
                "basic_auth_users": {"reporter": bcrypt_hash("s3cret-pass")},
            }
        )
    )
    data = tmp_path / "data"
    shutil.copytree(
        month_prometheus.data, data, ignore=shutil.ignore_patterns("lock", "wal", "chunks_head", "queries.active")
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        url = start_prometheus(tmp_path, {"global": {}}, free_port(), procs, RETENTION, web_config=web, data=data)
        (tmp_path / "password").write_text("s3cret-pass\n")
        (tmp_path / "wrong").write_text("not-the-pass\n")
        tls = ["--prometheus.tls.ca-file", str(pki.ca), "--prometheus.tls.cert-file", str(pki.client.cert),
               "--prometheus.tls.key-file", str(pki.client.key)]  # fmt: skip
        auth = ["--prometheus.username", "reporter", "--prometheus.password-file"]
        args = ["--customer", customer.id, "--pdf", "off"]
        done = report(url, tmp_path / "ok", month.plan.month, *tls, *auth, str(tmp_path / "password"), *args)
        assert done.returncode == 0, done.stderr
        assert page_of(tmp_path / "ok", customer, month).exists()
        wrong = report(url, tmp_path / "no", month.plan.month, *tls, *auth, str(tmp_path / "wrong"), *args)
        assert wrong.returncode == 1 and "HTTP 401, credentials refused" in wrong.stderr
        assert "not-the-pass" not in wrong.stderr
        untrusted = report(url, tmp_path / "no", month.plan.month, *auth, str(tmp_path / "password"), *args)
        assert untrusted.returncode == 1 and "TLS handshake failed" in untrusted.stderr
    finally:
        stop_processes(procs, tmp_path)


def test_protected_coverage_and_expiring_subscriptions(month_prometheus: Backfilled, written: Path) -> None:
    month = month_prometheus.month
    soon = month.start + month.plan.days * DAY + 30 * DAY
    for customer in month.customers.values():
        page = parse(page_of(written, customer, month))
        for row in page.tables.get("protected", [])[1:]:
            service, module = row[0].split(" / ", 1)
            protected, scanned = customer.protected[(service, module)]
            assert row[3] == (f"{protected / scanned * 100:.1f} %" if scanned else "not measured"), row
        for row in page.tables["subscriptions"][1:]:
            expiry = datetime.strptime(customer.expiry[row[0]][:10], "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
            assert row[2].endswith("(soon)") is (expiry <= soon), (row, customer.expiry[row[0]])
        if not customer.protected:
            assert "Not read for this customer." in page_of(written, customer, month).read_text()


def test_counters_and_gauges_disagreeing_is_said(month_prometheus: Backfilled, written: Path) -> None:
    from tests.integration.test_report_month import counted  # it imports this module

    month = month_prometheus.month
    said = 0
    for customer in month.customers.values():
        body = page_of(written, customer, month).read_text()
        assert "no avepoint_backup_job_runs_total" not in body
        for (job_type, module), job in customer.jobs.items():
            runs = counted(customer, job, month)
            if not job.never_ran and len(runs) != len(job.finished(month.start, month.start + month.plan.days * DAY)):
                assert f"{job_type} / {module}: the exporter counted {len(runs)} runs" in body
                said += 1
    assert said

"""The monthly report end to end: a month backfilled into a real Prometheus, `report` run as a console script, its
HTML checked against what the month held, its PDF turned into PNG pages and text (poppler-utils), its errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from exporter.report.html import duration
from tests.support import free_port
from tests.support.harness import SCRIPT, start_prometheus, stop_processes
from tests.support.pki import bcrypt_hash, make_pki
from tests.support.report_month import BETA_NAME, JobTruth, Truth, backfill, write

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) is not installed"),
]
ALPHA_EXCHANGE = ("c-alpha", "Microsoft 365", "Exchange Online")
ALPHA_ONEDRIVE = ("c-alpha", "Microsoft 365", "OneDrive")
BETA_SHAREPOINT = ("c-beta", "Microsoft 365", "SharePoint Online")


def months_ago(n: int) -> str:
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 - n
    return f"{index // 12}-{index % 12 + 1:02d}"


def last_month() -> str:
    return months_ago(1)


@dataclass
class Backfilled:
    url: str
    truth: Truth  # last month: with the run counters
    gauges: Truth  # three months ago: gauges only (a Prometheus of an exporter without run counters)
    data: Path


# The month is in the past: the default 15 days of retention would delete it at start.
RETENTION = ("--storage.tsdb.retention.time=100y",)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    tmp = tmp_path_factory.mktemp("report")
    truth = write(tmp / "month.om", last_month())
    backfill(tmp / "month.om", tmp / "data")
    # Three months back: the last month's file starts a day before it, and the two must not overlap.
    gauges = write(tmp / "gauges.om", months_ago(3), counters=False)
    backfill(tmp / "gauges.om", tmp / "data")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        url = start_prometheus(tmp, {"global": {}}, free_port(), procs, RETENTION, data=tmp / "data")
        yield Backfilled(url, truth, gauges, tmp / "data")
    finally:
        stop_processes(procs, tmp)


def report(url: str, out: Path, *extra: str, month: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, "report", "--prometheus.url", url, "--month", month or last_month(), "--out", str(out), *extra],
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


def expected_gap(job: JobTruth, truth: Truth, measured_from: float) -> tuple[float, float, bool]:
    """The longest stretch without a success, from the month's runs: it starts at the last success known
    before the measurement starts (a customer added mid-month shows one), else where measuring starts."""
    begin = max(truth.start, measured_from)
    known = [*job.successes, *([job.success_before] if job.success_before is not None else [])]
    prior = [t for t in known if t < begin]
    edges = [(max(prior), False) if prior else (begin, True)]
    edges += [(t, False) for t in sorted(t for t in known if t >= begin)]
    ends = [t for t, _ in edges[1:]] + [truth.end]
    return max(((a, b, o) for (a, o), b in zip(edges, ends, strict=True)), key=lambda g: g[1] - g[0])


def restart_hole(truth: Truth) -> tuple[str, str]:
    """The last scrape before the restart and the first after it (scrapes on the hour)."""
    return utc(truth.restart[0] - truth.restart[0] % 3600), utc(truth.restart[1] + (-truth.restart[1]) % 3600)


def job_row(page: Tables, module: str) -> list[str]:
    rows = [r for r in page.tables["jobs"][1:] if module in r[0]]
    assert len(rows) == 1, page.tables["jobs"]
    return rows[0]


@pytest.fixture(scope="module")
def written(month: Backfilled, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    done = report(month.url, out, "--msp.name", "Contoso <MSP>")
    assert done.returncode == 0, done.stderr
    return out


def counts_of(job: JobTruth, truth: Truth, gauges: bool = False) -> dict[str, int]:
    """What the report counts: the run counters' counts where the month has them, else the gauges'."""
    counts = job.counted if truth.counters and not gauges else job.outcomes
    return {o: counts.get(o, 0) for o in ("success", "warning", "failed", "canceled", "unknown")}


def check_rows(out: Path, truth: Truth) -> None:
    for key in (ALPHA_EXCHANGE, ALPHA_ONEDRIVE, BETA_SHAREPOINT):
        job = truth.jobs[key]
        page = parse(out / f"report-{key[0]}-{truth.month}.html")
        row = job_row(page, key[2])
        counts = counts_of(job, truth)
        runs = sum(counts.values())
        good = counts["success"] + counts["warning"]
        assert runs > 0 and counts["failed"] > 0
        assert row[1] == str(runs)
        assert row[2] == str(counts["failed"])
        assert row[3] == f"{good / runs * 100:.1f} %"
        assert row[4] == utc(max(job.successes))
        a, b, is_open = expected_gap(job, truth, truth.added[key[0]])
        assert row[5] == f"{'at least ' if is_open else ''}{duration(b - a)} {utc(a)} \N{EN DASH} {utc(b)}"
        assert job.last_objects is not None and job.first_objects is not None
        assert row[6] == f"{job.last_objects:,.0f} ({job.last_objects - job.first_objects:+,.0f})"
        assert job.last_size is not None and job.first_size is not None
        gib = 2**30
        assert row[7] == f"{job.last_size / gib:,.1f} GiB ({(job.last_size - job.first_size) / gib:+,.1f} GiB)"
        failed = [r for r in page.tables["failed"][1:] if key[2] in r[2]]
        assert [r[0] for r in failed] == [utc(t) for t in sorted(job.failed_starts)]
        body = (out / f"report-{key[0]}-{truth.month}.html").read_text()
        assert ("no avepoint_backup_job_runs_total" in body) is not truth.counters
        differ = f"{key[1]} / {key[2]}: the exporter counted {runs} runs, the latest-job gauges show "
        assert (differ in body) is (truth.counters and counts != counts_of(job, truth, gauges=True))


def test_every_module_row_holds_the_numbers_of_the_month_from_the_run_counters(
    month: Backfilled, written: Path
) -> None:
    # The counters leave out the runs a restart without state file and the customer's first sight took as
    # baseline: the month must have some, or this test would not tell the counters from the gauges.
    assert any(j.counted != j.outcomes for j in month.truth.jobs.values())
    check_rows(written, month.truth)


def test_with_only_the_gauges_the_runs_are_rebuilt_from_them(month: Backfilled, tmp_path: Path) -> None:
    done = report(month.url, tmp_path, "--pdf", "off", month=month.gauges.month)
    assert done.returncode == 0, done.stderr
    check_rows(tmp_path, month.gauges)


def test_the_customer_added_mid_month_is_not_measured_before_it_and_never_drawn_as_zero(
    month: Backfilled, written: Path
) -> None:
    truth = month.truth
    page = parse(written / f"report-c-beta-{truth.month}.html")
    added = utc(truth.added["c-beta"])
    hole = restart_hole(truth)
    assert page.texts["measured"] == f"Not measured before {added}; not measured from {hole[0]} to {hole[1]}."
    assert f"not measured before {added}" in job_row(page, "SharePoint Online")[0]
    # The chart has a bar per measured day only: days before the customer came are absent, not 0.
    svg = (written / f"report-c-beta-{truth.month}.html").read_text()
    daily = svg[svg.index("<figure id=daily>") : svg.index("<figure id=size>")]
    successful = daily[daily.index("serie-0") : daily.index("serie-1")]
    failed = daily[daily.index("serie-1") : daily.index("serie-2")]
    day_added = datetime.fromtimestamp(truth.added["c-beta"], UTC).day
    days_in_month = round((truth.end - truth.start) / 86400)
    assert successful.count('class="bar"') == days_in_month - day_added + 1
    values = [int(v) for v in re.findall(r'<desc class="value">(\d+)</desc>', failed)]
    assert sum(values) == truth.jobs[BETA_SHAREPOINT].outcomes["failed"]


def test_the_restart_shows_as_a_hole_and_counts_no_run_twice(month: Backfilled, written: Path) -> None:
    truth = month.truth
    page = parse(written / f"report-c-alpha-{truth.month}.html")
    before, after = restart_hole(truth)
    assert page.texts["measured"] == f"Not measured from {before} to {after}."
    assert "Not measured before" not in page.texts["measured"]
    # The size chart breaks each module's line at the hole instead of bridging it: two segments per module.
    body = (written / f"report-c-alpha-{truth.month}.html").read_text()
    size = body[body.index("<figure id=size>") :]
    assert len(re.findall(r'<path d="M[^"]*" class="line reactive nofill"', size)) == 2 * 2
    legend = re.findall(r'<li><span class="swatch" style="background:#[0-9a-f]{6}"></span>([^<]*)</li>', size)
    assert legend == ["Microsoft 365 / Exchange Online", "Microsoft 365 / OneDrive"]


def test_names_from_the_api_are_escaped(month: Backfilled, written: Path) -> None:
    body = (written / f"report-c-beta-{month.truth.month}.html").read_text()
    assert "<script>alert(1)</script>" not in body and "<script" not in body
    assert "Beta &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Sons&quot;" in body
    assert "Contoso &lt;MSP&gt;" in body
    assert parse(written / f"report-c-beta-{month.truth.month}.html").texts["summary"].startswith("1 of 1 modules")
    # Self-contained: nothing to fetch from anywhere.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", body)


def test_protected_data_and_subscriptions(month: Backfilled, written: Path) -> None:
    truth = month.truth
    alpha = parse(written / f"report-c-alpha-{truth.month}.html")
    scanned, protected = truth.protected["c-alpha"]
    assert alpha.tables["protected"][1][1:] == [f"{scanned:,}", f"{protected:,}", f"{protected / scanned * 100:.1f} %"]
    expiry = datetime.fromtimestamp(truth.expiry["c-alpha"], UTC).strftime("%Y-%m-%d")
    assert alpha.tables["subscriptions"][1][2] == f"{expiry} (soon)"
    assert alpha.tables["subscriptions"][1][3] == "300.0 GiB of 1,024.0 GiB (29 %)"
    beta = parse(written / f"report-c-beta-{truth.month}.html")
    assert "Not read for this customer." in (written / f"report-c-beta-{truth.month}.html").read_text()
    assert "(soon)" not in beta.tables["subscriptions"][1][2]


def test_fleet_page_has_a_row_per_customer(month: Backfilled, written: Path) -> None:
    truth = month.truth
    fleet = parse(written / f"fleet-{truth.month}.html").tables["fleet"]
    assert [r[0].split(" not measured")[0] for r in fleet[1:]] == ["Alpha GmbH", BETA_NAME]
    for row, cid in zip(fleet[1:], ("c-alpha", "c-beta"), strict=True):
        jobs = [j for k, j in truth.jobs.items() if k[0] == cid]
        counts = [counts_of(j, truth) for j in jobs]
        good = sum(c["success"] + c["warning"] for c in counts)
        total = sum(sum(c.values()) for c in counts)
        assert row[1] == f"{good / total * 100:.1f} %"
        assert row[2] == str(sum(c["failed"] for c in counts))
        assert row[3] == "none"
    assert "soon" not in fleet[2][4] and fleet[2][4] == "none"
    assert datetime.fromtimestamp(truth.expiry["c-alpha"], UTC).strftime("%Y-%m-%d") in fleet[1][4]


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="chromium is not installed")
def test_the_pdf_has_pages_and_the_numbers(month: Backfilled, written: Path, tmp_path: Path) -> None:
    truth = month.truth
    pdf = written / f"report-c-alpha-{truth.month}.pdf"
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 1 <= len(pages) <= 4
    assert all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for p in pages)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    job = truth.jobs[ALPHA_EXCHANGE]
    assert "Backup report: Alpha GmbH" in text
    assert "2 of 2 modules had failed runs" in text
    counts = counts_of(job, truth)
    assert f"{counts['success'] / sum(counts.values()) * 100:.1f} %" in text
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Page size:\s+59[45]\.\d+ x 841\.\d+ pts \(A4\)", info), info


def test_letter_paper_and_a_time_zone(month: Backfilled, tmp_path: Path) -> None:
    done = report(month.url, tmp_path, "--customer", "c-alpha", "--timezone", "America/New_York", "--paper", "letter")
    assert done.returncode == 0, done.stderr
    info = subprocess.run(
        ["pdfinfo", str(tmp_path / f"report-c-alpha-{month.truth.month}.pdf")], capture_output=True, text=True
    ).stdout
    assert "612 x 792 pts (letter)" in info
    page = parse(tmp_path / f"report-c-alpha-{month.truth.month}.html")
    first_failure = min(month.truth.jobs[ALPHA_EXCHANGE].failed_starts)
    local = datetime.fromtimestamp(first_failure, ZoneInfo("America/New_York"))
    assert page.tables["failed"][1][0] == local.strftime("%Y-%m-%d %H:%M")
    assert not (tmp_path / f"report-c-beta-{month.truth.month}.html").exists()


def test_display_name_override_and_logo(month: Backfilled, tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    out = tmp_path / "out"
    done = report(
        month.url, out, "--customer", "c-beta", "--customer-name", "c-beta=Beta & Co", "--msp.logo", str(logo),
        "--pdf", "off",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = (out / f"report-c-beta-{month.truth.month}.html").read_text()
    assert "<h1>Backup report: Beta &amp; Co</h1>" in body
    assert '<img src="data:image/png;base64,iVBORw0KGgo' in body
    assert not list(out.glob("*.pdf"))


def test_bad_input_gets_a_clear_error_and_exit_code(month: Backfilled, tmp_path: Path) -> None:
    cases = [
        (report("http://127.0.0.1:9", tmp_path / "a"), 1, "cannot connect"),
        (report(month.url + "/no/such/prefix", tmp_path / "b"), 1, "HTTP 404"),
        (report(month.url, tmp_path / "c", month="2026-13"), 2, "is not a month as YYYY-MM"),
        (report(month.url, tmp_path / "d", month="2999-01"), 2, "has not started yet"),
        (report(month.url, tmp_path / "e", "--customer", "c-nobody"), 3, "customer c-nobody: Prometheus has no"),
        (report(month.url, tmp_path / "f", month="2001-01"), 3, "has no avepoint_customer_info samples in 2001-01"),
        (report(month.url, tmp_path / "e", "--timezone", "Mars/Olympus"), 2, "unknown time zone"),
        (report(month.url, tmp_path / "e", "--customer-name", "oops"), 2, "is not ID=NAME"),
    ]
    (tmp_path / "file").write_text("")
    cases.append((report(month.url, tmp_path / "file" / "sub"), 4, "--out: cannot write to"))
    (tmp_path / "logo.txt").write_text("hello")
    cases.append((report(month.url, tmp_path / "g", "--msp.logo", str(tmp_path / "logo.txt")), 2, "not a PNG"))
    for done, code, message in cases:
        assert done.returncode == code, (done.args, done.stderr)
        assert message in done.stderr, (done.args, done.stderr)
        assert "Traceback" not in done.stderr


def test_pdf_engine_missing_or_failing(month: Backfilled, tmp_path: Path) -> None:
    env = {**os.environ, "CHROMIUM": str(tmp_path / "no-such-chromium")}
    args = [SCRIPT, "report", "--prometheus.url", month.url, "--month", month.truth.month, "--customer", "c-alpha"]
    missing = subprocess.run([*args, "--out", str(tmp_path / "a")], capture_output=True, text=True, env=env)
    assert missing.returncode == 0, missing.stderr
    assert "PDF: no Chromium found" in missing.stdout and not list((tmp_path / "a").glob("*.pdf"))
    assert (tmp_path / "a" / f"report-c-alpha-{month.truth.month}.html").exists()
    env["CHROMIUM"] = shutil.which("false") or "/bin/false"
    failing = subprocess.run([*args, "--out", str(tmp_path / "b")], capture_output=True, text=True, env=env)
    assert failing.returncode == 4 and "PDF: " in failing.stderr and "exited 1" in failing.stderr, failing.stderr


def test_tls_client_certificate_and_basic_auth(month: Backfilled, tmp_path: Path) -> None:
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
    shutil.copytree(month.data, data, ignore=shutil.ignore_patterns("lock", "wal", "chunks_head", "queries.active"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        url = start_prometheus(tmp_path, {"global": {}}, free_port(), procs, RETENTION, web_config=web, data=data)
        (tmp_path / "password").write_text("s3cret-pass\n")
        (tmp_path / "wrong").write_text("not-the-pass\n")
        tls = ["--prometheus.tls.ca-file", str(pki.ca), "--prometheus.tls.cert-file", str(pki.client.cert),
               "--prometheus.tls.key-file", str(pki.client.key)]  # fmt: skip
        auth = ["--prometheus.username", "reporter", "--prometheus.password-file"]
        args = ["--customer", "c-alpha", "--pdf", "off"]
        done = report(url, tmp_path / "ok", *tls, *auth, str(tmp_path / "password"), *args)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "ok" / f"report-c-alpha-{month.truth.month}.html").exists()
        wrong = report(url, tmp_path / "no", *tls, *auth, str(tmp_path / "wrong"), *args)
        assert wrong.returncode == 1 and "HTTP 401, credentials refused" in wrong.stderr
        assert "not-the-pass" not in wrong.stderr
        untrusted = report(url, tmp_path / "no", *auth, str(tmp_path / "password"), *args)
        assert untrusted.returncode == 1 and "TLS handshake failed" in untrusted.stderr
    finally:
        stop_processes(procs, tmp_path)

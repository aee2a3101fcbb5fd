"""Hostile text from the API (lone surrogates, control characters, huge strings) and secrets in URLs, end to end."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from exporter import codes, config, logs, safe
from exporter.errors import ConfigError
from exporter.exposition import ExpositionCache, customer_exposition
from exporter.exposition.text import encode
from exporter.model import Attempt, Customer, CustomerState, Failure, Job, Outcome, Snapshot
from exporter.upstream import parse
from exporter.web import status
from tests.support import free_port
from tests.support.faultproxy import FaultProxy, ProxyHandler, Rewrite
from tests.support.harness import NOW, SCRIPT, Clock, make_config, make_refresher, stop, wait_for
from tests.support.views import CONFIG, PROCESS

SURROGATE = "\ud800"  # what the JSON escape "\ud800" decodes to: valid JSON, no valid UTF-8
FFFD = "\ufffd"

# --- the parse boundary: every string field of every endpoint ------------------------------------------

CUSTOMER_ROW = {"id": "c1", "organization": "Contoso", "countryOrRegion": "Germany", "jobStatus": "Working"}
JOB_ROW = {
    "jobType": "Microsoft 365",
    "jobModule": "Exchange Online",
    "jobId": "j-1",
    "name": "Daily mail",
    "status": "Finished",
    "startTime": "2025-09-11T03:21:16Z",
}
PROTECTED_ROW = {"serviceType": "Microsoft 365", "serviceModule": "Exchange Online", "totalScannedObjects": 3}
PRODUCT_ROW = {"service": "Cloud Backup", "subscriptionName": "Sub", "subscriptionModel": "M", "storage": "S"}
SERVICE_ELEMENT: dict[str, Any] = {"customerId": "c1", "products": [PRODUCT_ROW]}
SEATS_ROW = {"type": "Google", "tenantId": "t1", "tenantName": "Tenant", "assignedUserSeat": 1}


def _customer(row: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    record, errors = parse.customer(row)
    assert record is not None
    return {"id": record.id, "organization": record.organization, "countryOrRegion": record.country,
            "jobStatus": record.status, "managementMode": record.management_mode}, errors  # fmt: skip


def _job(row: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    record, errors = parse.job(row)
    assert record is not None
    return {"jobType": record.job_type, "jobModule": record.job_module, "jobId": record.job_id or "",
            "name": record.name or "", "status": record.status}, errors  # fmt: skip


def _protected(row: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    record, errors = parse.protected(row)
    assert record is not None
    return {"serviceType": record.service, "serviceModule": record.module}, errors


def _service(product: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    subs, errors = parse.subscriptions({"customerId": "c1", "products": [product]})
    (sub,) = subs
    return {"service": sub.service, "subscriptionName": sub.subscription_name, "subscriptionModel": sub.model,
            "storage": sub.storage}, errors  # fmt: skip


def _service_customer(element: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    subs, errors = parse.subscriptions(element)
    return {"customerId": subs[0].customer_id}, errors


def _seats(row: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    record, errors = parse.tenant_seats(row, "Microsoft 365")
    assert record is not None
    return {"tenantId": record.tenant_id, "tenantName": record.tenant_name, "type": record.tenant_type}, errors


def _tenant(item: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    record, errors = parse.customer({**CUSTOMER_ROW, "tenants": [item]})
    assert record is not None
    (tenant,) = record.tenants
    return {"id": tenant.id, "name": tenant.name}, errors


# (reader, a good row, its string fields, the name counted for them)
ENDPOINT_FIELDS: list[tuple[Callable[[dict[str, Any]], tuple[dict[str, str], list[str]]], dict[str, Any], str]] = [
    *((_customer, CUSTOMER_ROW, f) for f in ("id", "organization", "countryOrRegion", "jobStatus")),
    (_customer, {**CUSTOMER_ROW, "managementMode": "Self"}, "managementMode"),
    *((_job, JOB_ROW, f) for f in ("jobType", "jobModule", "jobId", "name", "status")),
    *((_protected, PROTECTED_ROW, f) for f in ("serviceType", "serviceModule")),
    *((_service, PRODUCT_ROW, f) for f in ("service", "subscriptionName", "subscriptionModel", "storage")),
    (_service_customer, SERVICE_ELEMENT, "customerId"),
    *((_tenant, {"id": "t1", "name": "Tenant"}, f) for f in ("id", "name")),
    *((_seats, SEATS_ROW, f) for f in ("tenantId", "tenantName", "type")),
]
FIELD_IDS = [f"{reader.__name__.strip('_')}.{name}" for reader, _, name in ENDPOINT_FIELDS]


def _counted_as(reader: Callable[..., object], name: str) -> str:
    return "tenants" if reader is _tenant else name


@pytest.mark.parametrize(("reader", "row", "name"), ENDPOINT_FIELDS, ids=FIELD_IDS)
@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        (f"a{SURROGATE}b", f"a{FFFD}b"),  # a lone surrogate: nothing can encode it
        ("a\udfffb\udbff", f"a{FFFD}b{FFFD}"),  # low and high surrogates, one at the end
        ("a\x00b\x1b[2Jc\rd\x7fe\x9bf", f"a{FFFD}b{FFFD}[2Jc{FFFD}d{FFFD}e{FFFD}f"),  # NUL, ESC, CR, DEL, C1 CSI
        ("x" * 5000, "x" * (safe.MAX_TEXT - 1) + "\u2026"),  # absurdly long: capped, marked
    ],
    ids=["surrogate", "surrogates", "controls", "long"],
)
def test_every_api_string_is_repaired_and_counted(
    reader: Callable[[dict[str, Any]], tuple[dict[str, str], list[str]]],
    row: dict[str, Any],
    name: str,
    hostile: str,
    expected: str,
) -> None:
    values, errors = reader({**row, name: hostile})
    assert values[name] == expected
    assert errors == [_counted_as(reader, name)]
    assert all(isinstance(e, parse.Repaired) for e in errors)  # kept repaired, not left out
    for value in values.values():
        value.encode()  # every text encodes


@pytest.mark.parametrize(
    "text", ["Contoso", "Müller & Söhne GmbH", "東京海上", "👩\u200d💻 team", "One\nDrive\t(tab)", "x" * safe.MAX_TEXT]
)
def test_ordinary_text_is_kept_as_sent_and_not_counted(text: str) -> None:
    record, errors = parse.customer({**CUSTOMER_ROW, "organization": text})
    assert record is not None and record.organization == text and errors == []


# --- defence in depth where bytes are made -----------------------------------------------------------------


def _state(cid: str, organization: str, module: str = "Exchange Online", error: str | None = None) -> CustomerState:
    job = Job("Microsoft 365", module, "j1", "Backup", "Finished", Outcome.SUCCESS, objects=1, end_time=1.0e9)
    attempt = Attempt(True, 1.0e9) if error is None else Attempt(False, 1.0e9, Failure("HTTPStatusError", error))
    return CustomerState(Customer(cid, organization, "DE", "Working"), (job,), attempt, {job.key: 1.0e9})


def _snapshot(*customers: CustomerState) -> Snapshot:
    return Snapshot(1, CONFIG, True, Attempt(True, 1.0e9), customers, True)


def test_a_fragment_that_cannot_be_encoded_costs_one_character_not_the_exposition() -> None:
    # Records built without the parser (a future code path, a test): the encoder still must not fail.
    snap = _snapshot(_state("bad", f"Evil{SURROGATE}", module=f"Mod{SURROGATE}"), _state("good", "Contoso"))
    body = ExpositionCache().get(snap).body.decode()
    assert body == encode(snap).decode()
    assert f'organization="Evil{FFFD}"' in body and f'job_module="Mod{FFFD}"' in body
    assert 'customer_id="good",organization="Contoso"' in body
    assert customer_exposition(snap, "bad") is not None


def test_status_page_and_json_survive_text_that_cannot_be_encoded() -> None:
    # An upstream error message is quoted into the refresh error, past the parser.
    snap = _snapshot(
        _state(f"bad{SURROGATE}", f"Evil{SURROGATE}", error=f"HTTP 500 (boom{SURROGATE})"),
        _state("good", "Contoso"),
    )
    page = status.Page(status.build(snap, PROCESS, 1.0e9 + 60))
    html = b"".join(page.html_parts(1.0e9 + 60, gzip=False)).decode()
    assert f"Evil{FFFD}" in html and f"boom{FFFD}" in html and "Contoso" in html
    data = json.loads(page.json())
    assert {row["organization"] for row in data["customers"]} == {f"Evil{FFFD}", "Contoso"}


@pytest.mark.parametrize("fmt", logs.FORMATS)
def test_log_lines_stay_one_encodable_line_whatever_the_text(fmt: str) -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup("info", fmt, stream)
        hostile = f"a{SURROGATE}b\x1b[31mred\r\nlevel=error msg=forged\x9b"
        logging.getLogger("test").warning("hostile", extra={"organization": hostile})
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    text = raw.getvalue().decode("utf-8")  # strict: the line was written and is valid UTF-8
    assert text.count("\n") == 1 and text.endswith("\n")
    assert "\r" not in text and "\x1b" not in text and "\x9b" not in text
    assert f"a{FFFD}b" in text and "msg=forged" in text  # the text is there, escaped, not a field of its own
    if fmt == "json":
        assert json.loads(text)["organization"] == f"a{FFFD}b\x1b[31mred\r\nlevel=error msg=forged\x9b"


# --- end to end: one hostile customer among normal ones ------------------------------------------------


class AsciiRewrite(Rewrite):
    """Rewrite, but sent as ASCII JSON: a lone surrogate goes over the wire as the escape "\\ud800"."""

    def serve(self, handler: ProxyHandler) -> None:
        status_code, headers, body = handler.forward()
        if 200 <= status_code < 300:
            body = json.dumps(self.fn(json.loads(body)), ensure_ascii=True).encode()
        handler.answer(status_code, body, headers)


TAINTED = {
    "organization", "countryOrRegion", "jobStatus",  # customers
    "jobModule", "name", "status",  # jobs
    "serviceType",  # protected
    "subscriptionName",  # services
}  # fmt: skip


def _taint(node: Any) -> Any:
    if isinstance(node, list):
        return [_taint(item) for item in node]
    if isinstance(node, dict):
        return {
            k: (v + SURROGATE + "\x00" if k in TAINTED and isinstance(v, str) else _taint(v)) for k, v in node.items()
        }
    return node


def _taint_where(key: str, value: str) -> Callable[[Any], Any]:
    def fn(body: Any) -> Any:
        return {**body, "value": [_taint(e) if e.get(key) == value else e for e in body["value"]]}

    return fn


@pytest.fixture
def hostile_upstream() -> Iterator[tuple[Simulator, FaultProxy, str, str]]:
    with Simulator(FleetSpec(customers=4, seed=5)) as sim, FaultProxy(sim.base_url) as proxy:
        bad, good = sim.customer_ids[0], sim.customer_ids[1]
        proxy.add(r"^/partner/customers$", AsciiRewrite(_taint_where("id", bad)))
        proxy.add(rf"^/partner/customers/{bad}/(jobs|protected)$", AsciiRewrite(_taint))
        proxy.add(r"^/partner/services$", AsciiRewrite(_taint_where("customerId", bad)))
        yield sim, proxy, bad, good


def _write_config(tmp_path: Path, base_url: str, token_url: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(
        f"api:\n  base_url: {base_url}\n  token_url: {token_url}\n  max_requests_per_second: 100\n"
        f"auth:\n  client_id: {DEMO_CLIENT_ID}\n  client_secret_file: secret\n"
        "endpoints:\n  protected: true\n  services: true\n"
    )
    (tmp_path / "secret").write_text(DEMO_CLIENT_SECRET + "\n")
    return path


def _labels(body: str, name: str) -> list[dict[str, str]]:
    return [s.labels for f in text_string_to_metric_families(body) for s in f.samples if s.name == name]


@pytest.mark.e2e
def test_one_customer_with_a_lone_surrogate_blanks_nothing(
    hostile_upstream: tuple[Simulator, FaultProxy, str, str], tmp_path: Path
) -> None:
    sim, proxy, bad, good = hostile_upstream
    cfg = _write_config(tmp_path, proxy.url, sim.token_url)
    port = free_port()
    proc = subprocess.Popen(
        [SCRIPT, "--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/-/ready", proc)
        metrics = requests.get(url + "/metrics", timeout=10)
        page = requests.get(url + "/", timeout=10)
        status_json = requests.get(url + "/status.json", timeout=10)
    finally:
        _, err = stop(proc)
    assert (metrics.status_code, page.status_code, status_json.status_code) == (200, 200, 200)
    body = metrics.text
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr

    info = {s["customer_id"]: s for s in _labels(body, "avepoint_customer_info")}
    organization = {c["id"]: c["organization"] for c in sim.customers}
    assert info[good]["organization"] == organization[good]  # the normal customer intact ...
    assert info[bad]["organization"] == organization[bad] + FFFD + FFFD  # ... the hostile one there, repaired
    modules = {(s["customer_id"], s["job_module"]) for s in _labels(body, "avepoint_backup_job_status")}
    # Legacy spellings are exported under their canonical names; a repaired one matches no alias and stays.
    assert {m for c, m in modules if c == good} == {
        codes.canonical_job_module(str(r["jobModule"])) for r in sim.jobs(good)
    }
    assert {m for c, m in modules if c == bad} == {f"{r['jobModule']}{FFFD}{FFFD}" for r in sim.jobs(bad)}
    assert all(FFFD not in line for line in body.splitlines() if f'"{good}"' in line)
    errors = {s["field"]: s for s in _labels(body, "avepoint_parse_errors_total")}
    assert errors.keys() >= TAINTED
    refresh_ok = {
        (f.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(body)
        for s in f.samples
        if s.name == "avepoint_refresh_success"
    }
    assert all(v == 1.0 for v in refresh_ok.values())  # nothing failed

    assert organization[bad] + FFFD + FFFD in page.text and organization[good] in page.text
    rows = {row["id"]: row for row in status_json.json()["customers"]}
    assert rows[bad]["organization"] == organization[bad] + FFFD + FFFD
    assert rows[good]["organization"] == organization[good]

    assert "Traceback" not in err and "UnicodeEncodeError" not in err, err[-4000:]
    # The log says which customer sent what.
    assert f"customer_id={bad}" in err and "field=organization" in err

    check_run = subprocess.run(
        [SCRIPT, "check", "--config.file", str(cfg)], capture_output=True, text=True, encoding="utf-8", timeout=60
    )
    assert check_run.returncode == 0, check_run.stdout + check_run.stderr
    assert "Traceback" not in check_run.stderr
    bad_line = next(line for line in check_run.stdout.splitlines() if line.startswith(bad))
    good_line = next(line for line in check_run.stdout.splitlines() if line.startswith(good))
    assert FFFD in bad_line and organization[good][:30] in good_line and bad_line.rstrip().endswith("ok")


# --- the parse error log line names the customer and the job, rate-limited ---------------------------------


def test_parse_error_log_names_customer_and_job_once_per_customer_and_hour(caplog: pytest.LogCaptureFixture) -> None:
    with Simulator(FleetSpec(customers=3, seed=7), clock=lambda: NOW) as sim:
        bad = sim.customer_ids[:2]
        modules = {}
        for cid in bad:
            row = sim.jobs(cid)[0]
            modules[cid] = (str(row["jobType"]), str(row["jobModule"]))
            sim.pin(cid, *modules[cid], backupSize="lots")
        clock = Clock()
        counted: list[str] = []
        refresher = make_refresher(make_config(sim), clock, on_parse_error=counted.append)
        caplog.set_level(logging.WARNING, logger="exporter.refresh")

        def lines() -> list[logging.LogRecord]:
            found = [r for r in caplog.records if r.getMessage() == "unparseable value left out"]
            caplog.clear()
            return found

        try:
            refresher.snapshot_within(wait=10)
            first = lines()
            assert sorted((r.customer_id, r.job_type, r.job_module, r.field) for r in first) == sorted(  # type: ignore[attr-defined]
                (cid, *modules[cid], "backupSize") for cid in bad
            )
            assert all(r.suppressed == 0 for r in first)  # type: ignore[attr-defined]
            for step in range(1, 4):  # three more refreshes within the hour: counted, not logged
                clock.now = 61.0 * step
                refresher.snapshot_within(wait=10)
            assert lines() == []
            assert counted.count("backupSize") == 4 * len(bad)
            clock.now = 3600.0 + 61
            refresher.snapshot_within(wait=10)
            later = lines()
            assert sorted(r.customer_id for r in later) == sorted(bad)  # type: ignore[attr-defined]
            assert all(r.suppressed == 3 for r in later)  # type: ignore[attr-defined]
        finally:
            refresher.close()


# --- credentials in configured URLs --------------------------------------------------------------------

URL_SECRETS = ("hunter2", "QUERYSECRET", "FRAGSECRET")


def _with_secrets(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://apiuser:hunter2@{rest}?api_key=QUERYSECRET#FRAGSECRET"


@pytest.mark.e2e
def test_credentials_in_urls_reach_no_log_line_output_or_page(tmp_path: Path) -> None:
    with Simulator(FleetSpec(customers=2, seed=5)) as sim:
        cfg = _write_config(tmp_path, _with_secrets(sim.base_url), _with_secrets(sim.token_url))
        port = free_port()
        proc = subprocess.Popen(
            [SCRIPT, "--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}", "--log.format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(url + "/-/healthy", proc)
            page = requests.get(url + "/", timeout=10).text
            status_json = requests.get(url + "/status.json", timeout=10).text
        finally:
            _, err = stop(proc)
        check_run = subprocess.run(
            [SCRIPT, "check", "--config.file", str(cfg)], capture_output=True, text=True, timeout=60
        )
    listening = next(json.loads(line) for line in err.splitlines() if '"msg": "listening"' in line)
    assert listening["api"] == sim.base_url  # still says which API, without what it carried
    assert listening["token_url"] == sim.token_url
    assert f"api {sim.base_url}" in check_run.stdout
    for where, text in (
        ("log", err),
        ("check", check_run.stdout + check_run.stderr),
        ("page", page),
        ("status.json", status_json),
    ):
        for secret in URL_SECRETS:
            assert secret not in text, f"{secret} in {where}"


@pytest.mark.parametrize("key", ["base_url", "token_url"])
def test_an_invalid_url_is_refused_without_its_credentials(key: str) -> None:
    data = {
        "api": {key: "ftp://apiuser:hunter2@host.example/path?api_key=QUERYSECRET"},
        "auth": {"client_id": "app", "client_secret": "s"},
    }
    with pytest.raises(ConfigError, match=f"api.{key}") as caught:
        config.from_mapping(data)
    assert "ftp://host.example/path" in str(caught.value)
    assert not any(secret in str(caught.value) for secret in URL_SECRETS)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@graph.example.com:8443/api?k=v#f", "https://graph.example.com:8443/api"),
        ("https://graph.example.com", "https://graph.example.com"),
        ("http://[::1]:9/x", "http://[::1]:9/x"),
        ("https://u:p@host:notaport/", "<unparseable URL>"),
        ("user:pass@host", "<unparseable URL>"),
        ("", ""),
    ],
)
def test_public_url(url: str, shown: str) -> None:
    assert safe.public_url(url) == shown


@pytest.mark.e2e
def test_check_prints_its_table_on_a_terminal_that_cannot_show_the_text(
    hostile_upstream: tuple[Simulator, FaultProxy, str, str], tmp_path: Path
) -> None:
    sim, proxy, bad, good = hostile_upstream
    cfg = _write_config(tmp_path, proxy.url, sim.token_url)
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}  # LANG=C without UTF-8 mode, or a Latin-1 pipe
    run = subprocess.run([SCRIPT, "check", "--config.file", str(cfg)], capture_output=True, env=env, timeout=60)
    out = run.stdout.decode("ascii")
    assert run.returncode == 0, out + run.stderr.decode("ascii", "replace")
    bad_line = next(line for line in out.splitlines() if line.startswith(bad))
    assert "?" in bad_line and bad_line.rstrip().endswith("ok")
    assert any(line.startswith(good) for line in out.splitlines())

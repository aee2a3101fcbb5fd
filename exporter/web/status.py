"""The status page: a view of the fleet built once per snapshot generation, as HTML (for people) and JSON."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote

from exporter import codes, safe
from exporter.exposition import deflate
from exporter.model import EP_JOBS, EP_PROTECTED, EP_SERVICES, Attempt, CustomerState, Failure, Job, Outcome, Snapshot
from exporter.shard import Shard

HTML_TYPE = "text/html; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
# Same factor as the AvePointBackupStale alert: a module is stale past 1.5 expected intervals.
STALE_FACTOR = 1.5

_PROBLEM_OUTCOMES = frozenset({Outcome.FAILED, Outcome.WARNING, Outcome.CANCELED, Outcome.UNKNOWN})
# The order of the reasons in a row's summary.
_REASON_ORDER = ("failed", "warning", "canceled", "unknown", "stale", "never run", "with failed objects")
# Customer health, worst first: the order of the rows.
FAILED, WARNING, PENDING, OK = "failed", "warning", "pending", "ok"
HEALTH_RANK = {FAILED: 0, WARNING: 1, PENDING: 2, OK: 3}
PROBLEMS = frozenset({FAILED, WARNING})

GLYPHS: Mapping[Outcome, str] = {
    Outcome.SUCCESS: "\u2713",  # check mark
    Outcome.WARNING: "!",
    Outcome.FAILED: "\u2717",  # ballot x
    Outcome.RUNNING: "\u21bb",  # clockwise arrow
    Outcome.CANCELED: "\u2298",  # circled slash
    Outcome.NOT_RUN: "\u2013",  # en dash
    Outcome.UNKNOWN: "?",
}
DASH = "\u2013"
LABELS: Mapping[Outcome, str] = {o: o.value.replace("_", " ") for o in Outcome}


# --- the view model -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Process:
    """What the page says about this process; fixed for its life."""

    version: str
    started: float  # Unix time
    shard: Shard = field(default_factory=Shard)


@dataclass(frozen=True, slots=True)
class Refresh:
    """The last refresh of one endpoint (of one customer, or fleet-wide)."""

    endpoint: str
    attempted: bool
    success: bool
    last_success: float | None
    age: float | None  # seconds between the last success and the page's time
    error: Failure | None


class Cell(NamedTuple):
    """One job type/module of a customer. (A named tuple: thousands are built per page, and frozen
    dataclasses are several times slower to construct.)"""

    job_type: str
    job_module: str
    status: str
    outcome: Outcome
    job_name: str | None
    failed_objects: int | None
    end_time: float | None
    last_success: float | None
    since_success: float | None
    expected_interval: float
    stale: bool
    never_run: bool
    kind: str = codes.KIND_BACKUP

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the cell is a problem, in the words of the row's summary; empty when it is none.

        Only backups count: a scan, archiver or retention job is shown but is no backup problem.
        """
        if self.kind != codes.KIND_BACKUP:
            return ()
        found: tuple[str, ...] = (self.outcome.value.replace("_", " "),) if self.outcome in _PROBLEM_OUTCOMES else ()
        if self.stale:
            found += ("stale",)
        if self.never_run:
            found += ("never run",)
        if (self.failed_objects or 0) > 0 and self.outcome is not Outcome.FAILED:
            found += ("with failed objects",)
        return found


@dataclass(frozen=True, slots=True)
class Row:
    """One customer."""

    customer_id: str
    organization: str
    country: str
    status: str
    health: str
    reasons: tuple[str, ...]
    cells: tuple[Cell, ...]
    refresh: tuple[Refresh, ...]  # jobs first; protected data when enabled

    @property
    def data_age(self) -> float | None:
        return self.refresh[0].age if self.refresh else None


@dataclass(frozen=True, slots=True)
class Header:
    version: str
    started: float
    api_base_url: str
    api_version: str
    auth_method: str
    shard_index: int
    shard_count: int
    cache_ttl: float
    up: bool
    ready: bool
    listing: Refresh
    services: Refresh | None
    last_refresh_seconds: float | None
    customers: int
    problem_customers: int
    jobs: int


@dataclass(frozen=True, slots=True)
class Status:
    generation: int
    generated: float  # Unix time the page was built: every age on it is as of this time
    header: Header
    modules: tuple[tuple[str, str], ...]  # the columns: every (job type, module) of the fleet, sorted
    rows: tuple[Row, ...]  # problems first


def build(snap: Snapshot, process: Process, now: float) -> Status:
    """The view of a snapshot at `now` (wall time). Pure."""
    cfg = snap.config
    rows = sorted(
        (_row(cs, snap, now) for cs in snap.customers),
        key=lambda r: (HEALTH_RANK[r.health], r.organization.casefold(), r.customer_id),
    )
    modules = sorted({(job.job_type, job.job_module) for cs in snap.customers for job in cs.jobs})
    header = Header(
        version=process.version,
        started=process.started,
        api_base_url=safe.public_url(cfg.api.base_url),
        api_version=cfg.api.version,
        auth_method=cfg.auth.method,
        shard_index=process.shard.index,
        shard_count=process.shard.count,
        cache_ttl=cfg.cache.ttl,
        up=snap.up,
        ready=snap.refreshed,
        listing=_refresh("customers", snap.listing, now, attempted=snap.refreshed),
        services=_refresh(EP_SERVICES, snap.services, now) if cfg.endpoints.services else None,
        last_refresh_seconds=snap.last_refresh_seconds,
        customers=len(rows),
        problem_customers=sum(r.health in PROBLEMS for r in rows),
        jobs=sum(len(cs.jobs) for cs in snap.customers),
    )
    return Status(snap.generation, now, header, tuple(modules), tuple(rows))


def _row(cs: CustomerState, snap: Snapshot, now: float) -> Row:
    customer = cs.customer
    jobs_cfg = snap.config.jobs
    interval = jobs_cfg.expected_interval_for
    cells = tuple(_cell(customer.id, job, cs.last_success.get(job.key), interval, now) for job in cs.jobs)
    refresh: list[Refresh] = []
    if snap.config.endpoints.jobs:
        refresh.append(_refresh(EP_JOBS, cs.attempt, now))
    if snap.config.endpoints.protected:
        refresh.append(_refresh(EP_PROTECTED, cs.protected_attempt, now))
    counts: dict[str, int] = dict.fromkeys(_REASON_ORDER, 0)
    for c in cells:
        for reason in c.reasons:
            counts[reason] += 1
    reasons = [f"{n} {what}" for what, n in counts.items() if n]
    reasons.extend(f"{r.endpoint} refresh failed" for r in refresh if r.error is not None)
    if counts["failed"]:
        health = FAILED
    elif reasons:
        health = WARNING
    elif refresh and not all(r.attempted for r in refresh):
        health = PENDING
    else:
        health = OK
    return Row(
        customer.id,
        customer.organization,
        customer.country,
        customer.status,
        health,
        tuple(reasons),
        cells,
        tuple(refresh),
    )


def _cell(
    customer_id: str,
    job: Job,
    last_success: float | None,
    interval_for: Callable[[str, str, str], float],
    now: float,
) -> Cell:
    expected = interval_for(customer_id, job.job_type, job.job_module)
    since = None if last_success is None else max(0.0, now - last_success)
    return Cell(
        job_type=job.job_type,
        job_module=job.job_module,
        status=job.status,
        outcome=job.outcome,
        job_name=job.name,
        failed_objects=job.failed_objects,
        end_time=job.end_time,
        last_success=last_success,
        since_success=since,
        expected_interval=expected,
        stale=since is not None and since > STALE_FACTOR * expected,
        # The AvePointBackupNeverRun alert's test: a module without a job id.
        never_run=not job.job_id and job.outcome is Outcome.NOT_RUN,
        kind=codes.job_kind(job.job_type, job.job_module),
    )


def _refresh(endpoint: str, attempt: Attempt, now: float, attempted: bool | None = None) -> Refresh:
    tried = attempted if attempted is not None else (attempt.success or attempt.error is not None)
    return Refresh(
        endpoint=endpoint,
        attempted=tried,
        success=attempt.success,
        last_success=attempt.last_success,
        age=None if attempt.last_success is None else max(0.0, now - attempt.last_success),
        error=None if attempt.error is None else attempt.error,
    )


# --- formatting ---------------------------------------------------------------------------------------


def ago(seconds: float) -> str:
    """A short duration: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _query(text: str) -> str:
    # quote() encodes to UTF-8 first: a lone surrogate that got this far must not fail the page.
    return quote(safe.encodable(text), safe="")


def _e(text: object) -> str:
    """Every string that reaches the page goes through here (API data above all)."""
    return html.escape(str(text), quote=True)


# --- HTML ---------------------------------------------------------------------------------------------

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 8px}
a{color:#0969da}
ul.facts{display:flex;flex-wrap:wrap;gap:4px 18px;list-style:none;padding:0;margin:0 0 8px}
ul.facts li{white-space:nowrap}
.bad{color:#cf222e;font-weight:600}
.good{color:#1a7f37;font-weight:600}
.muted,.live{color:#59636e}
nav,.live,.legend{margin:4px 0}
#controls{margin:10px 0;display:flex;gap:16px;align-items:center}
#controls[hidden]{display:none}
#filter{font:inherit;padding:3px 6px;width:22em}
table{border-collapse:collapse;margin-top:6px}
th,td{border:1px solid #d1d9e0;padding:2px 5px;vertical-align:middle}
thead th{background:#f6f8fa;font-weight:600;text-align:left}
th.m{vertical-align:bottom;padding:4px 1px;min-width:20px}
th.m span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:500;font-size:12px}
td.customer{white-space:nowrap}
.org{display:block;font-weight:600}
.id{display:block;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:11px;color:#59636e}
th.g{font-size:12px}
td.o{text-align:center;font-weight:700;min-width:20px;padding:2px}
.why{display:block;font-size:12px;color:#59636e}
tr.h-failed td:first-child{border-left:4px solid #cf222e}
tr.h-warning td:first-child{border-left:4px solid #d4a72c}
tr.h-ok td:first-child,tr.h-pending td:first-child{border-left:4px solid #d1d9e0}
.o-success{background:#2da44e;color:#fff}
.o-warning{background:#e3b341;color:#1f2328}
.o-failed{background:#cf222e;color:#fff}
.o-running{background:#0969da;color:#fff}
.o-canceled{background:#8c959f;color:#fff}
.o-not_run{background:#eaeef2;color:#59636e}
.o-unknown{background:#8250df;color:#fff}
.stale{box-shadow:inset 0 0 0 3px #fb8f44}
.legend span{display:inline-block;padding:0 6px;margin-right:4px;border-radius:3px}
td.refresh{font-size:12px;max-width:16em}
"""

# Runs at the end of the body, so the table is parsed. Reads ?filter= and ?problems=1 so a filtered view is a link.
SCRIPT = """
(function () {
  var q = document.getElementById("filter"), p = document.getElementById("problems");
  var shown = document.getElementById("shown");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#fleet tbody tr"));
  var text = rows.map(function (r) { return r.textContent.toLowerCase(); });
  var params = new URLSearchParams(location.search);
  q.value = params.get("filter") || "";
  p.checked = params.get("problems") === "1";
  function apply() {
    var t = q.value.trim().toLowerCase(), n = 0;
    rows.forEach(function (r, i) {
      var hide = (p.checked && r.dataset.problem !== "1") || (t !== "" && text[i].indexOf(t) < 0);
      r.hidden = hide;
      if (!hide) n++;
    });
    shown.textContent = n + " of " + rows.length + " customers shown";
    var u = new URLSearchParams();
    if (t) u.set("filter", q.value.trim());
    if (p.checked) u.set("problems", "1");
    var s = u.toString();
    history.replaceState(null, "", location.pathname + (s ? "?" + s : ""));
  }
  q.addEventListener("input", apply);
  p.addEventListener("change", apply);
  document.getElementById("controls").hidden = false;
  apply();
})();
"""


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# The page's own style and script are allowed by their hashes; nothing else loads or runs, and
# nothing leaves: no external loads, no inline handlers, no form posts, no framing.
CSP_HTML = (
    f"default-src 'none'; script-src {_csp_hash(SCRIPT)}; style-src {_csp_hash(STYLE)}; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
CSP_JSON = "default-src 'none'; frame-ancestors 'none'"
HTML_HEADERS = (
    ("Content-Security-Policy", CSP_HTML),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
)
JSON_HEADERS = (
    ("Content-Security-Policy", CSP_JSON),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-cache"),
)


def render_html(status: Status) -> tuple[str, str]:
    """The page in two parts; the live line (uptime, age of the page) goes between them per request."""
    h = status.header
    top = [
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>AvePoint Backup Exporter: {h.problem_customers} of {h.customers} customers with problems</title>"
        f"<style>{STYLE}</style></head>\n<body>\n<h1>AvePoint Backup Exporter</h1>\n",
        _facts(status),
    ]
    rest = [
        '<nav>Endpoints: <a href="metrics">/metrics</a> \u00b7 <a href="status.json">/status.json</a> \u00b7 '
        '<a href="-/healthy">/-/healthy</a> \u00b7 <a href="-/ready">/-/ready</a></nav>\n',
        '<p class="legend">Outcome: ',
        "".join(f'<span class="o-{o.value}">{GLYPHS[o]} {LABELS[o]}</span>' for o in Outcome),
        f'<span class="stale">stale: no success for {STALE_FACTOR:g}\u00d7 the expected interval</span></p>\n',
        '<div id="controls" hidden><label>Filter <input id="filter" type="search" '
        'placeholder="organization, id, status, error" autocomplete="off"></label>'
        '<label><input id="problems" type="checkbox"> problems only</label>'
        '<span id="shown" class="muted"></span></div>\n',
        _table(status),
        f"<script>{SCRIPT}</script>\n</body></html>\n",
    ]
    return "".join(top), "".join(rest)


def live_line(status: Status, now: float) -> str:
    """The part that changes with the clock rather than the data; tiny, so it is formatted per request."""
    return (
        f'<p class="live">Up {_e(ago(now - status.header.started))}. Ages on this page are as of '
        f"{_e(utc(status.generated))}, {_e(ago(now - status.generated))} ago.</p>\n"
    )


def _facts(status: Status) -> str:
    h = status.header
    if h.listing.error is not None:
        up = f'<span class="bad">0</span> ({_error_text(h.listing.error)})'
    elif h.up:
        up = '<span class="good">1</span>'
    else:
        up = '<span class="bad">0</span> (no customer list yet)'
    if h.listing.last_success is not None:
        took = f", took {h.last_refresh_seconds:.1f} s" if h.last_refresh_seconds is not None else ""
        refreshed = f"{_e(utc(h.listing.last_success))} ({_e(ago(h.listing.age or 0.0))} ago{took})"
    elif h.ready:
        refreshed = '<span class="bad">failed</span>'
    else:
        refreshed = "not yet"
    items = [
        f"Version: {_e(h.version)}",
        f"API: {_e(h.api_base_url)} ({_e(h.api_version)})",
        f"Auth: {_e(h.auth_method.replace('_', ' '))}",
        f"Shard: {h.shard_index} of {h.shard_count}",
        f"Cache TTL: {_e(ago(h.cache_ttl))}",
        f"Last full refresh: {refreshed}",
        f"avepoint_up: {up}",
        f"Customers: {h.customers} ({h.problem_customers} with problems)",
        f"Jobs: {h.jobs}",
    ]
    if h.services is not None:
        services = "ok" if h.services.success else _error_text(h.services.error) if h.services.error else "not yet"
        items.append(f"Subscriptions: {services}")
    return '<ul class="facts">' + "".join(f"<li>{item}</li>" for item in items) + "</ul>\n"


def _table(status: Status) -> str:
    modules = status.modules
    groups: list[tuple[str, int]] = []
    for job_type, _ in modules:
        if groups and groups[-1][0] == job_type:
            groups[-1] = (job_type, groups[-1][1] + 1)
        else:
            groups.append((job_type, 1))
    out = [
        '<table id="fleet"><thead><tr><th rowspan="2">Customer</th><th rowspan="2">Status</th>',
        *(f'<th class="g" colspan="{n}" title="{_e(job_type)}">{_e(job_type)}</th>' for job_type, n in groups),
        '<th rowspan="2">Refresh</th><th rowspan="2">Data age</th><th rowspan="2">Metrics</th></tr>\n<tr>',
        *(f'<th class="m" title="{_e(t)} / {_e(m)}"><span>{_e(m)}</span></th>' for t, m in modules),
        "</tr></thead>\n<tbody>\n",
    ]
    column = {key: i for i, key in enumerate(modules)}
    empty = "<td></td>"
    for row in status.rows:
        cells = [empty] * len(modules)
        for cell in row.cells:
            cells[column[(cell.job_type, cell.job_module)]] = _cell_html(cell)
        why = f'<span class="why">{_e(", ".join(row.reasons))}</span>' if row.reasons else ""
        age = row.data_age
        out.append(
            f'<tr class="h-{row.health}" data-health="{row.health}" data-problem="{int(row.health in PROBLEMS)}"'
            f' data-id="{_e(row.customer_id)}">'
            f'<td class="customer"><span class="org" title="{_e(row.country)}">{_e(row.organization)}</span>'
            f'<span class="id">{_e(row.customer_id)}</span>{why}</td><td class="status">{_e(row.status)}</td>'
            f"{''.join(cells)}"
            f'<td class="refresh">{_refresh_html(row.refresh)}</td>'
            f'<td class="age">{_e(ago(age)) if age is not None else DASH}</td>'
            f'<td><a href="probe?customer_id={_e(_query(row.customer_id))}">probe</a></td></tr>\n'
        )
    out.append("</tbody></table>\n")
    if not status.rows:
        out.append('<p class="muted">No customers yet.</p>\n')
    return "".join(out)


def _cell_html(cell: Cell) -> str:
    module = _e(f"{cell.job_type} / {cell.job_module}")
    lines = [f"{cell.status} ({LABELS[cell.outcome]})"]
    if cell.kind != codes.KIND_BACKUP:
        lines.append(f"a {cell.kind} job, not a backup: not counted as a backup problem")
    if cell.job_name:
        lines.append(f"job: {cell.job_name}")
    if cell.failed_objects is not None:
        lines.append(f"failed objects: {cell.failed_objects}")
    if cell.since_success is not None and cell.last_success is not None:
        lines.append(f"last success: {ago(cell.since_success)} ago ({utc(cell.last_success)})")
    else:
        lines.append("last success: none seen")
    lines.append(f"expected every {ago(cell.expected_interval)}" + (": STALE" if cell.stale else ""))
    # One escape for the whole title (a newline in an attribute is a line break in the tooltip).
    title = module + "\n" + _e("\n".join(lines))
    classes = f"o o-{cell.outcome.value} stale" if cell.stale else f"o o-{cell.outcome.value}"
    return f'<td class="{classes}" data-module="{module}" title="{title}">{GLYPHS[cell.outcome]}</td>'


def _refresh_html(refresh: tuple[Refresh, ...]) -> str:
    parts = []
    for r in refresh:
        label = "" if len(refresh) == 1 else f"{_e(r.endpoint)}: "
        if r.error is not None:
            since = f", last success {_e(utc(r.last_success))}" if r.last_success is not None else ""
            parts.append(f'{label}<span class="bad">failed</span> {_error_text(r.error)}{since}')
        elif r.success and r.last_success is not None:
            parts.append(f'{label}<span class="good" title="{_e(utc(r.last_success))}">ok</span>')
        else:
            parts.append(f"{label}pending")
    return "<br>".join(parts) or DASH


def _error_text(error: Failure) -> str:
    ids = [f"request id {_e(error.request_id)}"] if error.request_id else []
    ids += [f"trace id {_e(error.trace_id)}"] if error.trace_id else []
    rid = f" ({', '.join(ids)})" if ids else ""
    return f'<span class="err" title="{_e(error.message)}">{_e(error.kind)}</span>{rid}'


# --- JSON ---------------------------------------------------------------------------------------------


def to_dict(status: Status) -> dict[str, Any]:
    h = status.header
    return {
        "generated_timestamp_seconds": status.generated,
        "exporter": {
            "version": h.version,
            "started_timestamp_seconds": h.started,
            "api": {"base_url": h.api_base_url, "version": h.api_version},
            "auth_method": h.auth_method,
            "shard": {"index": h.shard_index, "count": h.shard_count},
            "cache_ttl_seconds": h.cache_ttl,
            "up": h.up,
            "ready": h.ready,
            "last_refresh": {
                "timestamp_seconds": h.listing.last_success,
                "duration_seconds": h.last_refresh_seconds,
                "error": _error_dict(h.listing.error),
            },
            "services": _refresh_dict(h.services) if h.services is not None else None,
            "customers": h.customers,
            "customers_with_problems": h.problem_customers,
            "jobs": h.jobs,
        },
        "customers": [
            {
                "id": row.customer_id,
                "organization": row.organization,
                "country": row.country,
                "status": row.status,
                "health": row.health,
                "problems": list(row.reasons),
                "data_age_seconds": row.data_age,
                "refresh": [_refresh_dict(r) for r in row.refresh],
                "jobs": [
                    {
                        "job_type": c.job_type,
                        "job_module": c.job_module,
                        "status": c.status,
                        "outcome": c.outcome.value,
                        "failed_objects": c.failed_objects,
                        "end_timestamp_seconds": c.end_time,
                        "last_success_timestamp_seconds": c.last_success,
                        "seconds_since_last_success": c.since_success,
                        "expected_interval_seconds": c.expected_interval,
                        "stale": c.stale,
                        "never_run": c.never_run,
                        "kind": c.kind,
                    }
                    for c in row.cells
                ],
            }
            for row in status.rows
        ],
    }


def _refresh_dict(r: Refresh) -> dict[str, Any]:
    return {
        "endpoint": r.endpoint,
        "success": r.success,
        "last_success_timestamp_seconds": r.last_success,
        "age_seconds": r.age,
        "error": _error_dict(r.error),
    }


def _error_dict(error: Failure | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"class": error.kind, "message": error.message, "request_id": error.request_id, "trace_id": error.trace_id}


def render_json(status: Status) -> bytes:
    return safe.encode(json.dumps(to_dict(status), ensure_ascii=False, separators=(",", ":")))


# --- the cache ----------------------------------------------------------------------------------------


class Page:
    """One generation's page: built once, in the parts each kind of request needs, each on first use."""

    def __init__(self, status: Status) -> None:
        self.status = status
        self._lock = threading.Lock()
        self._html: tuple[bytes, bytes] | None = None
        self._gzip: tuple[bytes, bytes, int, int, int, int] | None = None
        self._json: bytes | None = None

    @property
    def generation(self) -> int:
        return self.status.generation

    def html(self) -> tuple[bytes, bytes]:
        with self._lock:
            if self._html is None:
                head, tail = render_html(self.status)
                # safe.encode: a text that cannot be encoded costs one character, never the page.
                self._html = (safe.encode(head), safe.encode(tail))
            return self._html

    def json(self) -> bytes:
        with self._lock:
            if self._json is None:
                self._json = render_json(self.status)
            return self._json

    def html_parts(self, now: float, gzip: bool) -> tuple[bytes, ...]:
        """The body: cached head, the live line, cached tail; gzip as one stream of separately compressed runs."""
        head, tail = self.html()
        live = safe.encode(live_line(self.status, now))
        if not gzip:
            return head, live, tail
        with self._lock:
            if self._gzip is None:
                # The gzip header goes with the head and the end of the stream with the tail.
                self._gzip = (
                    deflate.HEADER + deflate.compress(head),
                    deflate.compress(tail) + deflate.FINAL,
                    zlib.crc32(head),
                    len(head),
                    zlib.crc32(tail),
                    len(tail),
                )
            packed_head, packed_tail, crc_head, len_head, crc_tail, len_tail = self._gzip
        crc = deflate.crc32_combine(zlib.crc32(live, crc_head), crc_tail, len_tail)
        size = len_head + len(live) + len_tail
        return packed_head, deflate.compress(live), packed_tail + deflate.trailer(crc, size)


class StatusCache:
    """The page of the latest snapshot generation: rebuilt when the data changes, never per request."""

    def __init__(self, process: Process, wall_clock: Callable[[], float] = time.time) -> None:
        self._process = process
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._page: Page | None = None
        self.builds = 0

    def get(self, snap: Snapshot) -> Page:
        with self._lock:
            page = self._page
            if page is None or page.generation != snap.generation:
                page = self._page = Page(build(snap, self._process, self._wall()))
                self.builds += 1
            return page


__all__ = [
    "CSP_HTML",
    "HTML_HEADERS",
    "JSON_HEADERS",
    "Page",
    "Process",
    "Status",
    "StatusCache",
    "build",
    "render_html",
    "render_json",
    "to_dict",
]

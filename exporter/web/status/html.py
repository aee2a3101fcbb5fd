"""The status page as HTML: the fleet table, its facts and legend, its style and script with their CSP hashes."""

from __future__ import annotations

import base64
import hashlib
import html
import time
from collections.abc import Mapping
from importlib import resources
from urllib.parse import quote

from exporter import codes, safe
from exporter.model import Failure, Outcome
from exporter.web.status.paging import PAGE_SIZE, Query, Selection, haystack, select
from exporter.web.status.scan_profiles import SILENT_SECONDS, ScanCell
from exporter.web.status.view import (
    PROBLEMS,
    SEATS_RATIO,
    STALE_FACTOR,
    Cell,
    Coverage,
    Refresh,
    Row,
    Seats,
    Status,
    total_coverage,
)

HTML_TYPE = "text/html; charset=utf-8"

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


def _asset(name: str) -> str:
    # Each goes on a line of its own in the page source; the CSP hash covers exactly the text the page carries.
    return "\n" + resources.files("exporter.web.status").joinpath(name).read_text(encoding="utf-8")


STYLE = _asset("style.css")
# Runs at the end of the body, so the table is parsed. Filters as one types: on the page itself when it holds
# every customer, else by fetching the server's filtered page (the same view as the form's link).
SCRIPT = _asset("script.js")


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# The page's own style and script are allowed by their hashes; nothing else loads or runs, and
# nothing leaves: no external loads, no inline handlers, no framing. The filter form GETs this page
# (form-action 'self'), and the script fetches this page's other views (connect-src 'self').
CSP_HTML = (
    f"default-src 'none'; script-src {_csp_hash(SCRIPT)}; style-src {_csp_hash(STYLE)}; img-src data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HTML_HEADERS = (
    ("Content-Security-Policy", CSP_HTML),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
)


def render_html(
    status: Status, query: Query | None = None, haystacks: tuple[str, ...] | None = None
) -> tuple[str, str]:
    """The page in two parts; the live line (uptime, age of the page) goes between them per request.

    The head is the same for every query; the tail holds the query's controls and rows. `haystacks`
    (paging.haystack of each row) are built here unless the caller keeps them.
    """
    return render_head(status), render_tail(status, query or Query(), haystacks)


def render_head(status: Status) -> str:
    h = status.header
    return "".join(
        (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>AvePoint Backup Exporter: {h.problem_customers} of {h.customers} customers with problems</title>"
            f"<style>{STYLE}</style></head>\n<body>\n<h1>AvePoint Backup Exporter</h1>\n",
            _facts(status),
        )
    )


def render_tail(status: Status, query: Query, haystacks: tuple[str, ...] | None = None) -> str:
    if haystacks is None:
        haystacks = tuple(haystack(row) for row in status.rows)
    selection = select(status, haystacks, query)
    # Every customer on this page: the script may filter it in place, without asking the server.
    complete = int(not query.text and not query.problems and selection.pages == 1)
    return "".join(
        (
            '<nav>Endpoints: <a href="metrics">/metrics</a> \u00b7 <a href="status.json">/status.json</a> \u00b7 '
            '<a href="-/healthy">/-/healthy</a> \u00b7 <a href="-/ready">/-/ready</a></nav>\n',
            '<p class="legend">Outcome: ',
            "".join(f'<span class="o-{o.value}">{GLYPHS[o]} {LABELS[o]}</span>' for o in Outcome),
            f'<span class="stale">stale: no success for {STALE_FACTOR:g}\u00d7 the expected interval'
            + (f"; a scan profile: no daily report for {ago(SILENT_SECONDS)}" if status.header.scan_profiles else "")
            + "</span></p>\n",
            f'<form id="controls" method="get" action="" data-complete="{complete}">'
            '<label>Filter <input id="filter" name="filter" type="search" '
            f'placeholder="organization, id, status, error" autocomplete="off" value="{_e(query.text)}"></label>'
            '<label><input id="problems" name="problems" value="1" type="checkbox"'
            f"{' checked' if query.problems else ''}> problems only</label>"
            '<button type="submit">Apply</button>'
            f'<span id="shown" class="muted">{_e(shown_text(selection))}</span></form>\n',
            _pager(query, selection),
            _table(status, selection.rows, haystacks if complete else None),
            f"<script>{SCRIPT}</script>\n</body></html>\n",
        )
    )


def shown_text(selection: Selection) -> str:
    """`7 of 7 customers shown`; when paged, which rows of how many matching."""
    text = f"{len(selection.rows)} of {selection.total} customers shown"
    if selection.pages > 1:
        last = selection.first + len(selection.rows) - 1
        text += f" (rows {selection.first}\u2013{last} of {selection.matched} matching, {PAGE_SIZE} per page)"
    return text


def _pager(query: Query, selection: Selection) -> str:
    """Links to the other pages of the same view; none when one page holds it."""
    if selection.pages == 1:
        return '<nav id="pager" hidden></nav>\n'
    page, pages = selection.page, selection.pages

    def link(number: int, label: str, rel: str) -> str:
        if number == page or not 1 <= number <= pages:
            return f'<span class="muted">{label}</span>'
        href = _e(query.link(number)) or "./"  # relative: the page works behind a path prefix
        return f'<a href="{href}" rel="{rel}" data-page="{number}">{label}</a>'

    return (
        f'<nav id="pager">Page {page} of {pages}: '
        + " \u00b7 ".join(
            (
                link(1, "\u00ab first", "first"),
                link(page - 1, "\u2039 previous", "prev"),
                link(page + 1, "next \u203a", "next"),
                link(pages, "last \u00bb", "last"),
            )
        )
        + "</nav>\n"
    )


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
        since = ago(status.generated - h.listing.last_success)  # as every age on the page: as of its time
        refreshed = f"{_e(utc(h.listing.last_success))} ({_e(since)} ago{took})"
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


def _table(status: Status, rows: tuple[Row, ...], haystacks: tuple[str, ...] | None) -> str:
    """The fleet table of `rows`; with `haystacks` (the whole fleet's), each row carries its own for the script."""
    h = status.header
    modules = status.modules
    groups: list[tuple[str, int]] = []
    for job_type, _ in modules:
        if groups and groups[-1][0] == job_type:
            groups[-1] = (job_type, groups[-1][1] + 1)
        else:
            groups.append((job_type, 1))
    out = [
        '<div id="rows"><table id="fleet"><thead><tr><th rowspan="2">Customer</th><th rowspan="2">Status</th>',
        *(f'<th class="g" colspan="{n}" title="{_e(job_type)}">{_e(job_type)}</th>' for job_type, n in groups),
        '<th rowspan="2">Scan profiles</th>' if status.header.scan_profiles else "",
        '<th rowspan="2" title="protected of scanned objects (endpoints.protected)">Coverage</th>'
        if h.coverage
        else "",
        '<th rowspan="2" title="the tenant with the largest share of its user seats assigned">Seats</th>'
        if h.seats
        else "",
        '<th rowspan="2">Refresh</th><th rowspan="2">Data age</th><th rowspan="2">Metrics</th></tr>\n<tr>',
        *(f'<th class="m" title="{_e(t)} / {_e(m)}"><span>{_e(m)}</span></th>' for t, m in modules),
        "</tr></thead>\n<tbody>\n",
    ]
    column = {key: i for i, key in enumerate(modules)}
    now = status.generated  # every age as of the page's time
    empty = "<td></td>"
    for n, row in enumerate(rows):
        search = f' data-search="{_e(haystacks[n])}"' if haystacks is not None else ""
        cells = [empty] * len(modules)
        for cell in row.cells:
            cells[column[(cell.job_type, cell.job_module)]] = _cell_html(cell, now)
        why = f'<span class="why">{_e(", ".join(row.reasons))}</span>' if row.reasons else ""
        data_age = row.data_age(now)
        out.append(
            f'<tr class="h-{row.health}" data-health="{row.health}"{search}'
            f' data-problem="{int(row.health in PROBLEMS)}" data-id="{_e(row.customer_id)}">'
            f'<td class="customer"><span class="org" title="{_e(row.country)}">{_e(row.organization)}</span>'
            f'<span class="id">{_e(row.customer_id)}</span>{why}</td><td class="status">{_e(row.status)}</td>'
            f"{''.join(cells)}"
            f"{_scan_html(row.scan_profiles, now) if status.header.scan_profiles else ''}"
            f"{_coverage_html(row) if h.coverage else ''}{_seats_html(row) if h.seats else ''}"
            f'<td class="refresh">{_refresh_html(row.refresh)}</td>'
            f'<td class="age">{_e(ago(data_age)) if data_age is not None else DASH}</td>'
            f'<td><a href="probe?customer_id={_e(_query(row.customer_id))}">probe</a></td></tr>\n'
        )
    out.append("</tbody></table>\n")
    if not status.rows:
        out.append('<p class="muted">No customers yet.</p>\n')
    elif not rows:
        out.append('<p class="muted">No customer matches.</p>\n')
    out.append("</div>\n")
    return "".join(out)


def _cell_html(cell: Cell, now: float) -> str:
    module = _e(f"{cell.job_type} / {cell.job_module}")
    lines = [f"{cell.status} ({LABELS[cell.outcome]})"]
    if cell.kind != codes.KIND_BACKUP:
        lines.append(f"a {cell.kind} job, not a backup: not counted as a backup problem")
    if cell.job_name:
        lines.append(f"job: {cell.job_name}")
    if cell.failed_objects is not None:
        lines.append(f"failed objects: {cell.failed_objects}")
    if cell.last_success is not None:
        lines.append(f"last success: {ago(now - cell.last_success)} ago ({utc(cell.last_success)})")
    else:
        lines.append("last success: none seen")
    lines.append(f"expected every {ago(cell.expected_interval)}" + (": STALE" if cell.stale else ""))
    # One escape for the whole title (a newline in an attribute is a line break in the tooltip).
    title = module + "\n" + _e("\n".join(lines))
    classes = f"o o-{cell.outcome.value} stale" if cell.stale else f"o o-{cell.outcome.value}"
    return f'<td class="{classes}" data-module="{module}" title="{title}">{GLYPHS[cell.outcome]}</td>'


def _scan_html(scan: tuple[ScanCell, ...], now: float) -> str:
    """One glyph per scan profile, its outcome's colour (a silent one marked stale); the details in its title."""
    glyphs = []
    for c in scan:
        lines = [c.name or c.profile_id, f"last scan: {c.status or DASH} ({LABELS[c.outcome]})"]
        if c.last_update is not None:
            silent = f": SILENT (over {ago(SILENT_SECONDS)})" if c.silent else ""
            lines.append(f"last daily report: {ago(now - c.last_update)} ago ({utc(c.last_update)}){silent}")
        else:
            lines.append("last daily report: unknown")
        counts = (("new", c.new_objects), ("moved", c.moved_objects), ("out of policy", c.out_of_policy_objects))
        known = [f"{what} {n}" for what, n in counts if n is not None]
        if known:
            lines.append("objects: " + ", ".join(known))
        classes = f"o o-{c.outcome.value}" + (" stale" if c.silent else "")
        glyphs.append(
            f'<span class="{classes}" data-profile="{_e(c.profile_id)}" title="{_e(chr(10).join(lines))}">'
            f"{GLYPHS[c.outcome]}</span>"
        )
    return f'<td class="scan">{"".join(glyphs) or DASH}</td>'


# Under this share of scanned objects protected, the coverage shows red (as on the customer dashboard).
COVERAGE_LOW = 0.9


def _percent(share: float) -> str:
    # Floored to a whole percent: 99.6% of objects protected must not read as 100% (the epsilon keeps 0.29
    # from reading as 28% through the float's 28.999...).
    return f"{int(share * 100 + 1e-9)}%"


def _coverage_html(row: Row) -> str:
    """Protected / scanned objects over the customer's modules and their share; each module in the title."""
    total = total_coverage(row.coverage)
    if total is None:
        return f'<td class="cov">{DASH}</td>'
    protected, scanned, ratio = total
    title = _e("\n".join(_coverage_line(c) for c in row.coverage))
    share = f'<span class="bad">{_percent(ratio)}</span>' if ratio < COVERAGE_LOW else _percent(ratio)
    return f'<td class="cov" title="{title}">{share} <span class="n">{protected:,} / {scanned:,}</span></td>'


def _coverage_line(c: Coverage) -> str:
    counts = f"{_count(c.protected)} of {_count(c.scanned)} objects protected"
    return f"{c.service} / {c.module}: {counts}" + (f" ({_percent(c.ratio)})" if c.ratio is not None else "")


def _seats_html(row: Row) -> str:
    """The tenant with the largest share of its seats assigned; every tenant in the title."""
    judged = [s for s in row.seats if s.share is not None]
    if not row.seats:
        return f'<td class="cov">{DASH}</td>'
    title = _e("\n".join(_seats_line(s) for s in row.seats))
    if not judged:
        return f'<td class="cov" title="{title}">{DASH}</td>'
    worst = max(judged, key=lambda s: s.share or 0.0)
    share = worst.share or 0.0
    text = f'<span class="bad">{_percent(share)}</span>' if share > SEATS_RATIO else _percent(share)
    used = f"{worst.assigned:,} / {(worst.assigned or 0) + (worst.available or 0):,}"
    return f'<td class="cov" title="{title}">{text} <span class="n">{used}</span></td>'


def _seats_line(s: Seats) -> str:
    name = f"{s.tenant_type} tenant {s.tenant_name or s.tenant_id}"
    share = f" ({_percent(s.share)} assigned)" if s.share is not None else ""
    return f"{name}: {_count(s.assigned)} assigned, {_count(s.available)} available{share}"


def _count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


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


__all__ = [
    "CSP_HTML",
    "DASH",
    "GLYPHS",
    "HTML_HEADERS",
    "HTML_TYPE",
    "LABELS",
    "SCRIPT",
    "STYLE",
    "ago",
    "live_line",
    "render_head",
    "render_html",
    "render_tail",
    "shown_text",
    "utc",
]

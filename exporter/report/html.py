"""The report pages as self-contained HTML: inline CSS and SVG, a print stylesheet, every API text escaped.

Nothing is loaded from anywhere: the page opens offline, in a mail attachment, years later. Text that
came from AvePoint (organization, module, subscription and status names) or from a flag passes through
`_e` (html.escape, quotes included) on its way into the page, including attribute values.
"""

from __future__ import annotations

import hashlib
import html as _html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter.report.data import CustomerMonth, Gap, JobMonth, local

if TYPE_CHECKING:
    from exporter.report.charts import Charts

GIB = 2**30
DASH = "\N{EN DASH}"

CSS = """
:root { --ok: #2e7d32; --bad: #c62828; --muted: #666; --line: #ddd; }
* { box-sizing: border-box; }
body { font: 10.5pt/1.4 Helvetica, Arial, sans-serif; color: #222; margin: 0 auto; max-width: 190mm; padding: 8mm; }
header { display: flex; align-items: center; gap: 6mm; border-bottom: 2px solid #222; padding-bottom: 3mm; }
header img { max-height: 16mm; max-width: 50mm; }
h1 { font-size: 17pt; margin: 0; }
h2 { font-size: 12.5pt; margin: 7mm 0 2mm; border-bottom: 1px solid var(--line); }
.meta { color: var(--muted); font-size: 9pt; }
.summary { font-size: 12pt; font-weight: bold; margin: 4mm 0; padding: 2mm 3mm; border-left: 4px solid var(--ok); }
.summary.bad { border-color: var(--bad); }
table { border-collapse: collapse; width: 100%; font-size: 9pt; }
th, td { text-align: left; padding: 1.2mm 1.5mm; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f3f3f3; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.missing { color: var(--muted); font-style: italic; }
.bad { color: var(--bad); }
.note { color: var(--muted); font-size: 9pt; }
figure { margin: 3mm 0; }
figure svg { width: 100%; height: auto; }
ul.legend { list-style: none; margin: 0 0 0 8mm; padding: 0; font-size: 9pt; columns: 2; }
ul.legend .swatch { display: inline-block; width: 3mm; height: 3mm; margin-right: 1.5mm; vertical-align: middle; }
@media print {
  /* No paper size here: A4 and Letter printers both fit 190 mm wide at these margins (Letter is the
     shorter, A4 the narrower); the PDF engine adds the size it is asked for. */
  @page { margin: 12mm 10mm; }
  body { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  tr, figure, .summary { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


@dataclass(frozen=True)
class Page:
    msp_name: str = ""
    logo: str | None = None  # a data URI (report.logo)
    paper: str = "a4"


def filename(customer_id: str, month: str) -> str:
    """A file name from a customer id: ids are GUIDs, but a name must never leave the folder. An id that had
    to be changed gets a short hash of itself, so ids differing only in the characters replaced (a/b, a:b)
    do not write the same file."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", customer_id).lstrip(".")
    if safe != customer_id:
        safe += "-" + hashlib.sha256(customer_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"report-{safe}-{month}"


def _e(text: object) -> str:
    return _html.escape(str(text), quote=True)


def _date(t: float | None, month: CustomerMonth, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return local(t, month.period.zone, fmt) if t is not None else ""


def _missing(text: str) -> str:
    return f'<span class="missing">{_e(text)}</span>'


def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    d, rest = divmod(minutes, 1440)
    h, m = divmod(rest, 60)
    parts = [f"{d} d"] if d else []
    parts += [f"{h} h"] if h else []
    parts += [f"{m} min"] if not d and (m or not h) else []
    return " ".join(parts)


def ratio(value: float | None) -> str:
    return f"{value * 100:.1f} %" if value is not None else _missing("no finished run")


def gib(value: float | None) -> str:
    return f"{value / GIB:,.1f} GiB" if value is not None else _missing("not measured")


def _change(pair: tuple[float | None, float | None], fmt: str = "{:+,.0f}", scale: float = 1.0) -> str:
    a, b = pair
    if a is None or b is None:
        return ""
    return " (" + fmt.format((b - a) / scale) + ")"


def _gap(gap: Gap | None, month: CustomerMonth) -> str:
    if gap is None:
        return _missing("not measured")
    prefix = "at least " if gap.open_start else ""
    span = f"{_date(gap.start, month)} {DASH} {_date(gap.end, month)}"
    return f"{prefix}{duration(gap.seconds)}<br><span class=note>{span}</span>"


def _last_success(job: JobMonth, month: CustomerMonth) -> str:
    if job.last_success is None:
        return '<span class="bad">none seen</span>'
    return _e(_date(job.last_success, month))


def _head(title: str, page: Page) -> str:
    logo = f'<img src="{_e(page.logo)}" alt="">' if page.logo else ""
    msp = f'<div class="meta">{_e(page.msp_name)}</div>' if page.msp_name else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Nothing to load: a page that tries (an injected tag) is refused by its own policy.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<header>{logo}<div>{msp}<h1>{_e(title)}</h1>"
    )


def _period(month: CustomerMonth) -> str:
    p = month.period
    last = p.end - 1
    text = f"{_date(p.start, month, '%d %B %Y')} {DASH} {_date(last, month, '%d %B %Y')} ({p.zone.key})"
    if not p.complete:
        text += f", until {_date(p.end, month)} (the month is not over)"
    return text


def summary(month: CustomerMonth) -> tuple[str, bool]:
    failing = month.modules_with_failures
    without = month.modules_without_success
    backups = month.backups
    if not backups:
        return "No backup jobs were measured this month.", True
    if not failing and not without:
        return f"All backups healthy: {len(backups)} of {len(backups)} modules succeeded, no failed runs.", False
    parts = []
    if failing:
        parts.append(f"{len(failing)} of {len(backups)} modules had failed runs ({month.failed} in all)")
    never = [j for j in without if j.never_ran]
    if len(without) > len(never):
        parts.append(f"{len(without) - len(never)} without a successful run")
    if never:
        parts.append(f"{len(never)} never ran")
    return "; ".join(parts) + ".", True


def _rows(rows: Iterable[Sequence[str]]) -> str:
    return "".join("<tr>" + "".join(rows_cell for rows_cell in row) + "</tr>" for row in rows)


def _td(value: str, numeric: bool = False) -> str:
    return f'<td class="n">{value}</td>' if numeric else f"<td>{value}</td>"


def customer(month: CustomerMonth, page: Page, charts: Charts) -> str:
    """One customer's report."""
    title = f"Backup report: {month.name}"
    text, bad = summary(month)
    out = [
        _head(title, page),
        f'<div class="meta">Customer {_e(month.customer_id)} · {_e(_period(month))} · generated '
        f"{_e(_date(month.generated, month))}</div></div></header>",
        f'<p class="summary{" bad" if bad else ""}" id="summary">{_e(text)}</p>',
    ]
    measured = []
    if month.late_start is not None:
        measured.append(f"not measured before {_date(month.late_start, month)}")
    measured += [f"not measured from {_date(a, month)} to {_date(b, month)}" for a, b in month.holes]
    if measured:
        out.append('<p class="missing" id="measured">' + _e("; ".join(measured).capitalize()) + ".</p>")
    out.append("<h2>Backups by service and module</h2><table id=jobs><thead><tr>")
    out.append(
        "<th>Job type / module</th><th class=n>Runs</th><th class=n>Failed</th><th class=n>Success ratio</th>"
        "<th>Last success</th><th>Longest without success</th><th class=n>Objects</th><th class=n>Size</th>"
        "</tr></thead><tbody>"
    )
    rows = []
    for job in month.jobs:
        since = (
            f"<br><span class=missing>not measured before {_e(_date(job.measured_from, month))}</span>"
            if job.measured_from - month.period.start > max(month.interval * 3, 60.0)
            else ""
        )
        kind = f" <span class=note>({_e(job.kind)}, not a backup)</span>" if not job.is_backup else ""
        objects = (
            f"{job.objects[1]:,.0f}{_change(job.objects)}" if job.objects[1] is not None else _missing("not measured")
        )
        size = gib(job.size[1]) + (_change(job.size, "{:+,.1f} GiB", GIB) if job.size[1] is not None else "")
        label = f'<td data-module="{_e(job.job_module)}">{_e(job.job_type)} / {_e(job.job_module)}{kind}{since}</td>'
        if job.never_ran:
            # The documented never-run row: its zeros are not a backup's, so none of them is shown.
            never = _missing("never ran")
            rows.append([label, _td("0", True), _td("0", True), *([_td(never)] * 5)])
            continue
        rows.append(
            [
                label,
                _td(str(job.total), True),
                f'<td class="n{" bad" if job.failed else ""}">{job.failed}</td>',
                _td(ratio(job.ratio), True),
                _td(_last_success(job, month)),
                _td(_gap(job.longest_gap, month)),
                _td(objects, True),
                _td(size, True),
            ]
        )
    out.append(_rows(rows) + "</tbody></table>")
    sources = sorted({j.source for j in month.jobs})
    out.append(
        '<p class="note">Runs: the finished runs the exporter saw '
        + ("(from its run counters)" if sources == ["counters"] else "(from the latest-job gauges)")
        + "; the success ratio leaves canceled runs out. The longest without a success counts from the last "
        "success before the month where there was one. The summary and the customer's ratio judge backup jobs "
        "only, as the alerts do: scan, archiver and retention jobs are listed, marked, but not judged. "
        "Objects and size: the latest run at the month's end, with the change since its start.</p>"
    )
    legend = "".join(
        f'<li><span class="swatch" style="background:{_e(colour)}"></span>{_e(name)}</li>'
        for name, colour in charts.size_legend
    )
    out.append(
        f"<figure id=daily>{charts.daily}</figure><figure id=size>{charts.size}<ul class=legend>{legend}</ul></figure>"
    )
    failed = sorted(((r, j) for j in month.jobs for r in j.failed_runs), key=lambda x: x[0].start)
    out.append("<h2>Failed runs</h2>")
    if failed:
        out.append(
            "<table id=failed><thead><tr><th>Started</th><th>Ended</th><th>Job type / module</th><th>Status</th>"
        )
        out.append("</tr></thead><tbody>")
        out.append(
            _rows(
                [
                    _td(_e(_date(r.start, month))),
                    _td(_e(_date(r.end, month)) if r.end is not None else _missing("not reported")),
                    _td(f"{_e(j.job_type)} / {_e(j.job_module)}"),
                    _td(_e(r.status)),
                ]
                for r, j in failed
            )
        )
        out.append("</tbody></table>")
    else:
        out.append("<p id=failed>None.</p>")
    out.append("<h2>Protected data</h2>")
    if month.protected:
        out.append(
            "<table id=protected><thead><tr><th>Service / module</th><th class=n>Scanned objects</th>"
            "<th class=n>Protected objects</th><th class=n>Coverage</th></tr></thead><tbody>"
        )
        out.append(
            _rows(
                [
                    _td(f"{_e(p.service)} / {_e(p.module)}"),
                    _td(f"{p.scanned:,.0f}" if p.scanned is not None else _missing("not measured"), True),
                    _td(f"{p.protected:,.0f}" if p.protected is not None else _missing("not measured"), True),
                    _td(ratio(p.ratio) if p.ratio is not None else _missing("not measured"), True),
                ]
                for p in month.protected
            )
        )
        out.append("</tbody></table>")
    else:
        out.append(f"<p>{_missing('Not read for this customer.')}</p>")
    out.append("<h2>Subscriptions</h2>")
    if month.subscriptions:
        out.append(
            "<table id=subscriptions><thead><tr><th>Service</th><th>Subscription</th><th>Expires</th>"
            "<th class=n>Storage used</th></tr></thead><tbody>"
        )
        expiring = set(month.expiring())
        rows = []
        for s in month.subscriptions:
            used = ""
            if s.capacity_consumed is not None and s.capacity_purchased:
                used = f"{gib(s.capacity_consumed)} of {gib(s.capacity_purchased)} "
                used += f"({s.capacity_consumed / s.capacity_purchased * 100:.0f} %)"
            expiry = _e(_date(s.expiry, month, "%Y-%m-%d")) if s.expiry is not None else _missing("not given")
            if s in expiring:
                expiry = f'<span class="bad">{expiry} (soon)</span>'
            rows.append([_td(_e(s.service)), _td(_e(s.name)), _td(expiry), _td(used or _missing("not given"), True)])
        out.append(_rows(rows) + "</tbody></table>")
    else:
        out.append(f"<p>{_missing('Not read for this customer.')}</p>")
    if month.notes:
        out.append("<h2>Notes</h2><ul class=note>" + "".join(f"<li>{_e(n)}</li>" for n in month.notes) + "</ul>")
    out.append("</body></html>\n")
    return "".join(out)


def fleet(months: Sequence[CustomerMonth], page: Page) -> str:
    """The MSP's own page: one row per customer."""
    first = months[0]
    out = [
        _head(f"Backup report: all customers, {first.period.month}", page),
        f'<div class="meta">{_e(_period(first))} · generated {_e(_date(first.generated, first))}</div></div></header>',
        "<h2>Customers</h2><table id=fleet><thead><tr><th>Customer</th><th class=n>Success ratio</th>"
        "<th class=n>Failed runs</th><th>Modules without success</th><th>Expiring subscriptions</th>"
        "</tr></thead><tbody>",
    ]
    rows = []
    for m in months:
        link = f'<a href="{_e(filename(m.customer_id, m.period.month))}.html">{_e(m.name)}</a>'
        without = ", ".join(
            f"{j.job_type} / {j.job_module}" + (" (never ran)" if j.never_ran else "")
            for j in m.modules_without_success
        )
        expiring = ", ".join(
            f"{s.service} {s.name} ({_date(s.expiry, m, '%Y-%m-%d')})" for s in m.expiring() if s.expiry
        )
        late = (
            f"<br><span class=missing>not measured before {_e(_date(m.late_start, m))}</span>" if m.late_start else ""
        )
        rows.append(
            [
                f'<td data-customer="{_e(m.customer_id)}">{link}{late}</td>',
                _td(ratio(m.ratio), True),
                f'<td class="n{" bad" if m.failed else ""}">{m.failed}</td>',
                _td(f'<span class="bad">{_e(without)}</span>' if without else "none"),
                _td(f'<span class="bad">{_e(expiring)}</span>' if expiring else "none"),
            ]
        )
    out.append(_rows(rows) + "</tbody></table>")
    out.append(
        '<p class="note">The success ratio and the failed runs are of backup jobs only, as the alerts judge them '
        "(scan, archiver and retention jobs are left out). Subscriptions expiring within 30 days after the period "
        "are listed.</p></body></html>\n"
    )
    return "".join(out)


__all__ = ["CSS", "Page", "customer", "duration", "filename", "fleet", "gib", "ratio", "summary"]

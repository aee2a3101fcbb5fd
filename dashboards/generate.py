"""The exporter's Grafana dashboards as code: `python dashboards/generate.py [--check]` writes (or checks) the JSON."""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

Json = dict[str, Any]

HERE = Path(__file__).resolve().parent
TAGS = ["avepoint", "backup"]
DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
CUSTOMER_DASHBOARD = "/d/avepoint-customer/avepoint-customer"

# Metric names (README, section "Metrics").
STATUS = "avepoint_backup_job_status"
SIZE = "avepoint_backup_job_size_bytes"
SUB_EXPIRY = "avepoint_subscription_expiry_timestamp_seconds"
SUB_SEATS = "avepoint_subscription_purchased_seats"
SUB_ASSIGNED = "avepoint_subscription_licenses_assigned"
SUB_CONSUMED = "avepoint_subscription_capacity_consumed_bytes"
SUB_PURCHASED = "avepoint_subscription_capacity_purchased_bytes"
PROTECTED_OBJECTS = "avepoint_protected_objects"
PROTECTED_SCANNED = "avepoint_protected_scanned_objects"
SEATS_ASSIGNED = "avepoint_tenant_user_seats_assigned"
SEATS_AVAILABLE = "avepoint_tenant_user_seats_available"
SEATS_PANEL = "User seats per tenant"
# Panels whose data only api.version v3 gives (the legacy API has no seats route).
V3_ONLY = frozenset({SEATS_PANEL})
LAST_SUCCESS = "avepoint_backup_job_last_success_timestamp_seconds"
EXPECTED = "avepoint_backup_job_expected_interval_seconds"
REFRESH_OK = "avepoint_refresh_success"
REFRESH_LAST = "avepoint_refresh_last_success_timestamp_seconds"
JOB = "customer_id, job_type, job_module"  # the labels that name one backup job
KIND = "avepoint_backup_job_kind"
SCAN_STATUS = "avepoint_scan_profile_status"
SCAN_INFO = "avepoint_scan_profile_info"
SCAN_UPDATE = "avepoint_scan_profile_last_update_timestamp_seconds"
# The mixin's default scanProfileSilentDays (AvePointScanProfileSilent), in seconds.
SCAN_SILENT_SECONDS = 2 * 86400

# Selectors that the dashboard variables fill in.
THIS_CUSTOMER = 'customer_id="$customer_id"'
THIS_ORGANIZATION = 'organization="$organization"'
THIS_EXPORTER = 'job=~"$job"'
# Every selector of every query carries these (scoped() adds them), so that two exporters scraped by one
# Prometheus, or two jobs scraping one exporter, never add up in a panel.
SCOPE = ('job=~"$job"', 'instance=~"$instance"')
FAILED = 'outcome="failed"'
NOT_SUCCESS = 'outcome!="success"'
SUCCEEDED = 'outcome=~"success|warning"'  # a warning is a success with remarks: it counts as a last success
JOBS_ENDPOINT = 'endpoint="jobs"'

# Values substitute() uses for variables the caller leaves out. `job` matches every scrape job, as "All" would;
# `organization` and `customer_id` have no sensible default and must be given.
VARIABLE_DEFAULTS: dict[str, str] = {"datasource": "prometheus", "job": ".+", "instance": ".+"}

# Outcome -> colour. The order is also the number the status-history query gives each outcome.
OUTCOMES: dict[str, str] = {
    "success": "green",
    "warning": "yellow",
    "failed": "red",
    "running": "blue",
    "canceled": "orange",
    "not_run": "text",
    "unknown": "purple",
}


# --- PromQL helpers ---------------------------------------------------------------------------------------------


def metric(name: str, *matchers: str) -> str:
    """`name{m1, m2}`, or the bare name without matchers."""
    return f"{name}{{{', '.join(matchers)}}}" if matchers else name


def with_organization(expr: str, *matchers: str) -> str:
    """Adds the customer's `organization` label to every series of `expr` (which must carry `customer_id`)."""
    # max by: exactly one info series per customer, even when two scrape jobs export the same customer.
    info = metric("avepoint_customer_info", *matchers)
    if not re.fullmatch(r"[\w:]+(\{[^{}]*\})?", expr):
        expr = f"({expr})"
    return f"{expr} * on(customer_id) group_left(organization) max by (customer_id, organization) ({info})"


def backups_only(expr: str) -> str:
    """`expr` without scan, archiver and retention jobs, which v3 lists beside the backups.

    `unless kind!="backup"` rather than `and kind="backup"`: an exporter without the kind family
    still shows every job instead of none.
    """
    return f'({expr}) unless on({JOB}) {KIND}{{kind!="backup"}}'


def last_success_ms(*matchers: str) -> str:
    """Milliseconds since the epoch (Grafana's time unit) of each job's last success; 0 if it never succeeded."""
    # The fallback keeps jobs without a success in tables (shown as "never") instead of dropping their rows.
    return f"1000 * ({metric(LAST_SUCCESS, *matchers)} or on({JOB}) 0 * {metric(EXPECTED, *matchers)})"


def stale_jobs(*matchers: str) -> str:
    """How many jobs have not succeeded for more than 1.5 times their expected interval (0, not empty)."""
    age = f"time() - {metric(LAST_SUCCESS, *matchers)}"
    return f"count({backups_only(f'{age} > 1.5 * {metric(EXPECTED, *matchers)}')}) or vector(0)"


def outcome_code(*matchers: str) -> str:
    """One series per job; its value is the index of its outcome in OUTCOMES (value-mapped back to names)."""
    terms = [
        f"{code} * {metric(STATUS, *matchers, f'outcome={json.dumps(name)}')}" for code, name in enumerate(OUTCOMES)
    ]
    return f"max by (job_type, job_module) ({' or '.join(terms)})"


_PROMQL_TOKEN = re.compile(
    r'(?P<skip>"(?:[^"\\]|\\.)*"|\[[^\]]*\]|\d[\w.]*'
    r"|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))"
    r"|(?P<name>[a-zA-Z_:][\w:]*)(?P<space>\s*)(?P<braces>\{[^}]*\})?"
    r"|(?P<bare>\{[^}]*\})"
)
_NOT_METRICS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def scoped(expr: str, matchers: Sequence[str] = SCOPE) -> str:
    """`expr` with `matchers` added to every series selector (a label it already matches is left as it is)."""

    def add(braces: str | None) -> str:
        inner = (braces or "{}")[1:-1].strip()
        present = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", re.sub(r'"(?:[^"\\]|\\.)*"', "", inner)))
        extra = [m for m in matchers if re.match(r"\w+", m)[0] not in present]  # type: ignore[index]
        return "{" + ", ".join([*([inner] if inner else []), *extra]) + "}"

    def replace(match: re.Match[str]) -> str:
        if match["skip"]:
            return match[0]
        if match["bare"]:
            return add(match["bare"])
        name, space, braces = match["name"], match["space"], match["braces"]
        # A name followed by "(" or "by (...)" is a function or an aggregation, not a metric.
        call = braces is None and re.match(r"\(|(?:by|without)\b", expr[match.end() :])
        if name in _NOT_METRICS or call:
            return match[0]
        return name + add(braces) + ("" if braces else space)

    return _PROMQL_TOKEN.sub(replace, expr)


# --- Grafana building blocks ------------------------------------------------------------------------------------


def target(expr: str, legend: str = "", *, instant: bool = False) -> Json:
    """A Prometheus query, over the time range or `instant` (the value now); the panel sets its refId."""
    query: Json = {"datasource": DATASOURCE, "expr": scoped(expr), "legendFormat": legend or "__auto"}
    return query | ({"instant": True, "range": False} if instant else {"range": True})


def thresholds(*steps: tuple[float | None, str]) -> Json:
    return {"mode": "absolute", "steps": [{"color": colour, "value": value} for value, colour in steps]}


OK = thresholds((None, "green"))
BAD_FROM_1 = thresholds((None, "green"), (1, "red"))
CAPACITY_STEPS = thresholds((None, "green"), (0.8, "orange"), (0.9, "red"))
# Coverage: the share of scanned objects protected; below 90% something is left out of the backup.
COVERAGE_STEPS = thresholds((None, "red"), (0.9, "orange"), (0.99, "green"))


def value_mapping(*entries: tuple[str | int, str, str]) -> Json:
    """Maps (value, text, colour) entries; Grafana applies it before the unit."""
    options = {
        str(value): {"color": colour, "index": i, "text": text} for i, (value, text, colour) in enumerate(entries)
    }
    return {"options": options, "type": "value"}


UP_DOWN = value_mapping((1, "up", "green"), (0, "down", "red"))
OK_FAILED = value_mapping((1, "ok", "green"), (0, "failed", "red"))
OUTCOME_NAMES = value_mapping(*((name, name, colour) for name, colour in OUTCOMES.items()))
OUTCOME_CODES = value_mapping(*((code, name, colour) for code, (name, colour) in enumerate(OUTCOMES.items())))
NEVER = value_mapping((0, "never", "red"))


def by_name(name: str, **properties: Any) -> Json:
    """A field override for the field (or renamed column) `name`; keys use `_` for `.` (custom_width)."""
    props = [{"id": key.replace("_", "."), "value": value} for key, value in properties.items()]
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


OUTCOME_COLOURS = [by_name(name, color={"fixedColor": colour, "mode": "fixed"}) for name, colour in OUTCOMES.items()]


def panel(
    kind: str,
    title: str,
    description: str,
    unit: str,
    targets: Sequence[Json],
    *,
    w: int,
    h: int,
    options: Json | None = None,
    defaults: Json | None = None,
    overrides: Sequence[Json] = (),
    **extra: Any,
) -> Json:
    """Any panel; the dashboard places it (x, y) and numbers it."""
    return {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": {"unit": unit, **(defaults or {})}, "overrides": list(overrides)},
        "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
        "options": options or {},
        "targets": [{**query, "refId": ref} for ref, query in zip(string.ascii_uppercase, targets, strict=False)],
        "title": title,
        "type": kind,
        **extra,
    }


def stat(
    title: str,
    description: str,
    unit: str,
    expr: str,
    *,
    steps: Json = OK,
    mappings: Sequence[Json] = (),
    legend: str = "",
    text_mode: str = "value",
    w: int = 4,
    h: int = 4,
) -> Json:
    """A single number now, coloured by thresholds or value mappings."""
    options = {
        "colorMode": "value" if text_mode == "value" else "none",
        "graphMode": "none",
        "justifyMode": "center",
        "orientation": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "textMode": text_mode,
    }
    defaults = {"color": {"mode": "thresholds"}, "mappings": list(mappings), "thresholds": steps}
    query = target(expr, legend, instant=True)
    return panel("stat", title, description, unit, [query], w=w, h=h, options=options, defaults=defaults)


def timeseries(
    title: str,
    description: str,
    unit: str,
    *targets: Json,
    stack: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    overrides: Sequence[Json] = (),
    w: int = 12,
    h: int = 8,
) -> Json:
    """Lines over time; job metrics change in steps when a new job runs, so they are drawn as steps."""
    custom = {
        "drawStyle": "line",
        "fillOpacity": 30 if stack else 0,
        "lineInterpolation": "stepAfter",
        "lineWidth": 1,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
    }
    defaults: Json = {"color": {"mode": "palette-classic"}, "custom": custom}
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    options = {
        "legend": {"calcs": ["lastNotNull", "max"], "displayMode": "table", "placement": "right", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel(
        "timeseries",
        title,
        description,
        unit,
        targets,
        w=w,
        h=h,
        options=options,
        defaults=defaults,
        overrides=overrides,
    )


def piechart(
    title: str, description: str, expr: str, legend: str, *, overrides: Sequence[Json] = (), w: int = 8
) -> Json:
    options = {
        "displayLabels": ["value"],
        "legend": {"displayMode": "table", "placement": "right", "showLegend": True, "values": ["value", "percent"]},
        "pieType": "donut",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    query = target(expr, legend, instant=True)
    return panel("piechart", title, description, "short", [query], w=w, h=8, options=options, overrides=overrides)


def state_timeline(
    title: str, description: str, expr: str, legend: str, *, mappings: Sequence[Json], w: int = 24, h: int = 8
) -> Json:
    options = {
        "alignValue": "left",
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "mergeValues": True,
        "rowHeight": 0.9,
        "showValue": "auto",
        "tooltip": {"mode": "single", "sort": "none"},
    }
    defaults = {"color": {"mode": "thresholds"}, "mappings": list(mappings), "thresholds": OK}
    return panel(
        "state-timeline",
        title,
        description,
        "none",
        [target(expr, legend)],
        w=w,
        h=h,
        options=options,
        defaults=defaults,
    )


@dataclass(frozen=True)
class Column:
    """A table column: a label or a query's value ("Value #B"), its header and how to show it."""

    field: str
    title: str
    unit: str = ""
    mappings: tuple[Json, ...] = ()
    colour: str = ""  # "text" or "background": colour the cell by mappings or thresholds
    steps: Json | None = None
    link: Json | None = None


def table(
    title: str,
    description: str,
    columns: Sequence[Column],
    *targets: Json,
    keys: Sequence[str] = ("customer_id", "job_type", "job_module"),
    sort_by: str = "",
    descending: bool = False,
    w: int = 24,
    h: int = 10,
) -> Json:
    """Instant queries in table format, one row per `keys` (labels every query has), showing `columns` in order.

    Each query's frame is cut down to the keys and the columns first, so that labels such as `__name__` or
    `instance` cannot keep rows apart in the merge. Grafana calls the value column "Value #<refId>", or just
    "Value" when the panel has a single query.
    """
    if len(targets) == 1:
        columns = [replace(c, field="Value") if c.field == "Value #A" else c for c in columns]
    fields = [c.field for c in columns]
    transformations: list[Json] = [
        {"id": "filterFieldsByName", "options": {"include": {"names": list(dict.fromkeys([*keys, *fields]))}}},
    ]
    if len(targets) > 1:
        transformations.append({"id": "merge", "options": {}})
    transformations.append(
        {
            "id": "organize",
            "options": {
                "excludeByName": {key: True for key in keys if key not in fields},
                "indexByName": {name: i for i, name in enumerate(fields)},
                "renameByName": {c.field: c.title for c in columns},
            },
        }
    )
    overrides = []
    for c in columns:
        properties: Json = {}
        if c.unit:
            properties["unit"] = c.unit
        if c.mappings:
            properties["mappings"] = list(c.mappings)
        if c.steps:
            properties["thresholds"] = c.steps
        if c.colour:
            properties["custom_cellOptions"] = {"type": f"color-{c.colour}"}
        if c.link:
            properties["links"] = [c.link]
        if properties:
            overrides.append(by_name(c.title, **properties))
    # No footer key: Grafana 12.2 moved the footer from the options into the field config, and no footer is
    # the default of both schemas, so leaving it out means the same in every version.
    options: Json = {"cellHeight": "sm", "showHeader": True}
    if sort_by:
        options["sortBy"] = [{"desc": descending, "displayName": sort_by}]
    defaults = {
        "color": {"mode": "thresholds"},
        "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "filterable": True},
        "thresholds": OK,
    }
    tables = [{**query, "format": "table", "instant": True, "range": False} for query in targets]
    return panel(
        "table",
        title,
        description,
        "short",
        tables,
        w=w,
        h=h,
        options=options,
        defaults=defaults,
        overrides=overrides,
        transformations=transformations,
    )


def row(title: str, *panels: Json, collapsed: bool = False) -> Json:
    """A row; a collapsed row holds its panels, an expanded one is followed by them (Grafana's JSON model)."""
    return {"collapsed": collapsed, "panels": list(panels), "title": title, "type": "row"}


CUSTOMER_LINK: Json = {
    "targetBlank": False,
    "title": "Open the customer's dashboard",
    "url": f"{CUSTOMER_DASHBOARD}?var-organization=${{__data.fields.organization:percentencode}}"
    "&var-datasource=${datasource}&var-job=${job}&var-instance=${instance}&${__url_time_range}",
}


# --- Variables and dashboards ------------------------------------------------------------------------------------


def datasource_variable() -> Json:
    return {
        "current": {},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "type": "datasource",
    }


def query_variable(name: str, label: str, query: str, *, hidden: bool = False) -> Json:
    """A single-valued variable from `label_values(...)`, refreshed when the time range changes."""
    return {
        "current": {},
        "datasource": DATASOURCE,
        "definition": query,
        "hide": 2 if hidden else 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [],
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "type": "query",
    }


def exporter_variables() -> list[Json]:
    """`job` and `instance`: which exporter the dashboard shows (SCOPE puts them in every query)."""
    return [
        query_variable("job", "Job", "label_values(avepoint_exporter_build_info, job)"),
        query_variable("instance", "Instance", 'label_values(avepoint_exporter_build_info{job=~"$job"}, instance)'),
    ]


def layout(items: Sequence[Json]) -> list[Json]:
    """Places panels left to right in lines of 24 columns, rows on lines of their own, and numbers them."""
    placed: list[Json] = []
    next_id = 0
    x = y = line = 0

    def place(p: Json) -> Json:
        nonlocal next_id, x, y, line
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, line = 0, y + line, 0
        next_id += 1
        p = {**p, "gridPos": {"h": h, "w": w, "x": x, "y": y}, "id": next_id}
        x, line = x + w, max(line, h)
        return p

    for item in items:
        if item["type"] != "row":
            placed.append(place(item))
            continue
        x, y, line = 0, y + line, 0
        next_id += 1
        header = {**item, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "id": next_id}
        y += 1
        children = [place(p) for p in item["panels"]]
        if item["collapsed"]:
            placed.append({**header, "panels": children})
            x, y, line = 0, header["gridPos"]["y"] + 1, 0
        else:
            placed += [{**header, "panels": []}, *children]
    return placed


def dashboard(
    uid: str, title: str, description: str, *, since: str, variables: Sequence[Json] = (), panels: Sequence[Json]
) -> Json:
    return {
        "annotations": {"list": []},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "links": [
            {
                "asDropdown": False,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": TAGS,
                "targetBlank": False,
                "title": "AvePoint backup",
                "type": "dashboards",
            }
        ],
        "panels": layout(panels),
        "refresh": "1m",
        "schemaVersion": 39,
        "tags": TAGS,
        "templating": {"list": [datasource_variable(), *exporter_variables(), *variables]},
        "time": {"from": since, "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def fleet() -> Json:
    # Failed, warning, running … or successful but stale: everything someone should look at.
    stale = f"time() - {LAST_SUCCESS} > 1.5 * {EXPECTED}"
    attention = backups_only(f"{metric(STATUS, NOT_SUCCESS)} or ({STATUS} and on({JOB}) ({stale}))")
    only_attention = f"and on({JOB}) ({attention})"
    all_by_outcome = f"count by (outcome) ({STATUS} == 1)"
    succeeded = metric(STATUS, SUCCEEDED)
    return dashboard(
        "avepoint-fleet",
        "AvePoint backup / Fleet overview",
        "Every customer's AvePoint cloud backup jobs at a glance: what failed, what is stale, how much is protected.",
        since="now-7d",
        panels=[
            stat("Customers", "Customers the exporter lists from AvePoint.", "short", "count(avepoint_customer_info)"),
            stat(
                "Jobs",
                "Backup jobs with a latest status: one per customer, job type and module.",
                "short",
                f"count({STATUS})",
            ),
            stat(
                "Failed jobs",
                "Backup jobs whose latest run failed (outcome failed); scan, archiver and retention jobs left out.",
                "short",
                f"count({backups_only(metric(STATUS, FAILED))}) or vector(0)",
                steps=BAD_FROM_1,
            ),
            stat(
                "Stale jobs",
                "Jobs whose last success is older than 1.5 times their expected interval "
                "(jobs that never succeeded are not counted here; see the table).",
                "short",
                stale_jobs(),
                steps=BAD_FROM_1,
            ),
            stat("Protected size", "Sum of the size of every job's latest backup.", "bytes", f"sum({SIZE})"),
            stat(
                "AvePoint API",
                "Whether the exporter can authenticate and list customers (avepoint_up).",
                "none",
                "min(avepoint_up)",
                mappings=[UP_DOWN],
            ),
            piechart(
                "Jobs by outcome",
                "Latest outcome of every job now.",
                all_by_outcome,
                "{{outcome}}",
                overrides=OUTCOME_COLOURS,
            ),
            timeseries(
                "Jobs by outcome over time",
                "How many jobs had each outcome over time.",
                "short",
                target(all_by_outcome, "{{outcome}}"),
                stack=True,
                overrides=OUTCOME_COLOURS,
                w=16,
            ),
            table(
                "Jobs needing attention",
                "Every job whose latest outcome is not success (failed, warning, running, canceled, not run, "
                "unknown), and every stale job (no success for 1.5 times its expected interval), longest without "
                "a success first. Click an organization for its dashboard.",
                [
                    Column("organization", "Organization", link=CUSTOMER_LINK),
                    Column("job_type", "Job type"),
                    Column("job_module", "Module"),
                    Column("status", "Status"),
                    Column("outcome", "Outcome", mappings=(OUTCOME_NAMES,), colour="background"),
                    Column("Value #B", "Failed objects", unit="short", steps=BAD_FROM_1, colour="text"),
                    Column("Value #C", "Last success", unit="dateTimeFromNow", mappings=(NEVER,)),
                ],
                target(with_organization(attention)),
                target(f"avepoint_backup_job_failed_objects {only_attention}"),
                target(f"{last_success_ms()} {only_attention}"),
                sort_by="Last success",
                h=12,
            ),
            table(
                "Customers",
                "Every customer with its job count, failed jobs, protected size and the age of its data. "
                "Click an organization for its dashboard.",
                [
                    Column("organization", "Organization", link=CUSTOMER_LINK),
                    Column("country", "Country"),
                    Column("Value #B", "Jobs", unit="short"),
                    Column("Value #C", "Failed jobs", unit="short", steps=BAD_FROM_1, colour="text"),
                    Column("Value #D", "Protected size", unit="bytes"),
                    Column("Value #E", "Data age", unit="s"),
                ],
                target("avepoint_customer_info"),
                target(f"count by (customer_id) ({STATUS})"),
                target(f"sum by (customer_id) ({backups_only(f'{metric(STATUS, FAILED)} or 0 * {STATUS}')})"),
                target(f"sum by (customer_id) ({SIZE})"),
                target(f"time() - max by (customer_id) ({metric(REFRESH_LAST, JOBS_ENDPOINT)})"),
                keys=["customer_id"],
                sort_by="Failed jobs",
                descending=True,
                h=12,
            ),
            timeseries(
                "Protected size by job type",
                "Size of the latest backup of every job, summed by job type and stacked: the total's growth.",
                "bytes",
                target(f"sum by (job_type) ({SIZE})", "{{job_type}}"),
                stack=True,
            ),
            timeseries(
                "Success ratio by job type",
                "Share of backup jobs whose latest run succeeded (warnings count as success; running, canceled "
                "and not-run jobs count against it). Scan, archiver and retention jobs are left out.",
                "percentunit",
                target(
                    f"sum by (job_type) ({backups_only(f'{succeeded} or 0 * {STATUS}')})"
                    f" / sum by (job_type) ({backups_only(STATUS)})",
                    "{{job_type}}",
                ),
                minimum=0,
                maximum=1,
            ),
            row(
                "Licences and capacity",
                table(
                    "Subscriptions",
                    "Every subscription (endpoints.services), soonest expiry first, with seats or units, licences "
                    "and the share of purchased capacity consumed. Click an organization for its dashboard.",
                    [
                        Column("organization", "Organization", link=CUSTOMER_LINK),
                        Column("service", "Service"),
                        Column("subscription", "Subscription"),
                        Column("Value #A", "Expires", unit="dateTimeFromNow"),
                        Column("Value #B", "Seats or units", unit="short"),
                        Column("Value #C", "Licences assigned", unit="short"),
                        Column("Value #D", "Capacity used", unit="percentunit", steps=CAPACITY_STEPS, colour="text"),
                    ],
                    target(with_organization(f"1000 * {SUB_EXPIRY}")),
                    # A subscription is sold by seats (Microsoft 365) or by units (the others).
                    target(f"{SUB_SEATS} or avepoint_subscription_purchased_units"),
                    target(SUB_ASSIGNED),
                    target(f"{SUB_CONSUMED} / ({SUB_PURCHASED} > 0)"),
                    keys=["customer_id", "service", "subscription"],
                    sort_by="Expires",
                    h=10,
                ),
                stat(
                    "Expiring within 30 days",
                    "Subscriptions that expire within 30 days (or have expired).",
                    "short",
                    f"count({SUB_EXPIRY} - time() < 30 * 86400) or vector(0)",
                    steps=BAD_FROM_1,
                ),
                timeseries(
                    "Capacity consumed",
                    "Storage consumed against purchased capacity, summed over all subscriptions.",
                    "bytes",
                    target(f"sum({SUB_CONSUMED})", "consumed"),
                    target(f"sum({SUB_PURCHASED})", "purchased"),
                ),
                timeseries(
                    "Protected data by storage",
                    "Data protected by Cloud Backup for Microsoft 365 (endpoints.protected), in AvePoint's storage "
                    "and in customers' own (BYOS).",
                    "bytes",
                    target("sum by (storage) (avepoint_protected_data_bytes)", "{{storage}}"),
                    stack=True,
                ),
            ),
        ],
    )


def customer() -> Json:
    c = THIS_CUSTOMER
    per_module = "{{job_type}}: {{job_module}}"
    return dashboard(
        "avepoint-customer",
        "AvePoint backup / Customer",
        "One customer's AvePoint backup jobs: latest run per module, history, objects, size and duration.",
        since="now-7d",
        variables=[
            query_variable(
                "organization",
                "Organization",
                f"label_values({metric('avepoint_customer_info', *SCOPE)}, organization)",
            ),
            query_variable(
                "customer_id",
                "Customer id",
                f"label_values({metric('avepoint_customer_info', *SCOPE, THIS_ORGANIZATION)}, customer_id)",
                hidden=True,
            ),
        ],
        panels=[
            stat(
                "Jobs",
                "Backup jobs of this customer: one per job type and module.",
                "short",
                f"count({metric(STATUS, c)})",
            ),
            stat(
                "Failed jobs",
                "Backup jobs whose latest run failed; scan, archiver and retention jobs left out.",
                "short",
                f"count({backups_only(metric(STATUS, c, FAILED))}) or vector(0)",
                steps=BAD_FROM_1,
            ),
            stat(
                "Stale jobs",
                "Jobs whose last success is older than 1.5 times their expected interval.",
                "short",
                stale_jobs(c),
                steps=BAD_FROM_1,
            ),
            stat("Protected size", "Sum of the size of every job's latest backup.", "bytes", f"sum({metric(SIZE, c)})"),
            stat(
                "Data age",
                "Time since the exporter last fetched this customer's jobs from AvePoint.",
                "s",
                f"time() - max({metric(REFRESH_LAST, c)})",
                steps=thresholds((None, "green"), (900, "yellow"), (3600, "red")),
            ),
            stat(
                "Last refresh",
                "Whether the exporter's last attempt to fetch this customer's jobs worked.",
                "none",
                f"min({metric(REFRESH_OK, c)})",
                mappings=[OK_FAILED],
            ),
            table(
                "Latest job per module",
                "The latest job of every job type and module: status, objects, size, duration and last success.",
                [
                    Column("job_type", "Job type"),
                    Column("job_module", "Module"),
                    Column("status", "Status"),
                    Column("outcome", "Outcome", mappings=(OUTCOME_NAMES,), colour="background"),
                    Column("Value #B", "Objects", unit="short"),
                    Column("Value #C", "Failed", unit="short", steps=BAD_FROM_1, colour="text"),
                    Column("Value #D", "Size", unit="bytes"),
                    Column("Value #E", "Duration", unit="s"),
                    Column("Value #F", "Last success", unit="dateTimeFromNow", mappings=(NEVER,)),
                ],
                target(metric(STATUS, c)),
                target(metric("avepoint_backup_job_objects", c)),
                target(metric("avepoint_backup_job_failed_objects", c)),
                target(metric(SIZE, c)),
                target(metric("avepoint_backup_job_duration_seconds", c)),
                target(last_success_ms(c)),
                sort_by="Job type",
            ),
            # Coverage (issue 15, point 4): the recording rule avepoint:protected_coverage_ratio's expression,
            # written out so that the panel works without the rules loaded.
            table(
                "Coverage per module",
                "Objects Cloud Backup for Microsoft 365 protects against those it scanned, per service and module "
                "(endpoints.protected); no coverage where nothing was scanned.",
                [
                    Column("service", "Service"),
                    Column("module", "Module"),
                    Column("Value #A", "Protected objects", unit="short"),
                    Column("Value #B", "Scanned objects", unit="short"),
                    Column("Value #C", "Coverage", unit="percentunit", steps=COVERAGE_STEPS, colour="text"),
                ],
                target(metric(PROTECTED_OBJECTS, c)),
                target(metric(PROTECTED_SCANNED, c)),
                target(
                    f"{metric(PROTECTED_OBJECTS, c)} / on(customer_id, service, module) "
                    f"({metric(PROTECTED_SCANNED, c)} > 0)"
                ),
                keys=["customer_id", "service", "module"],
                sort_by="Coverage",
                h=8,
            ),
            # Seats (issue 15, point 6): v3 only, so the legacy stacks' "every panel shows data" leaves it out
            # (V3_ONLY) and tests/integration/test_seats_stack.py runs it against a v3 exporter.
            table(
                SEATS_PANEL,
                "User seats of each of the customer's tenants (v3 with endpoints.services): assigned, still "
                "available, and the share assigned that AvePointSeatsNearlyUsedUp judges.",
                [
                    Column("tenant_type", "Tenant type"),
                    Column("tenant_name", "Tenant"),
                    Column("tenant_id", "Tenant id"),
                    Column("Value #A", "Assigned", unit="short"),
                    Column("Value #B", "Available", unit="short"),
                    Column("Value #C", "Assigned share", unit="percentunit", steps=CAPACITY_STEPS, colour="text"),
                ],
                target(metric(SEATS_ASSIGNED, c)),
                target(metric(SEATS_AVAILABLE, c)),
                target(
                    f"{metric(SEATS_ASSIGNED, c)} / on(customer_id, tenant_type, tenant_id, tenant_name) "
                    f"({metric(SEATS_ASSIGNED, c)} + {metric(SEATS_AVAILABLE, c)} > 0)"
                ),
                keys=["customer_id", "tenant_type", "tenant_id", "tenant_name"],
                sort_by="Assigned share",
                descending=True,
                h=6,
            ),
            state_timeline(
                "Status history",
                "Outcome of the latest job of every module over time.",
                outcome_code(c),
                per_module,
                mappings=[OUTCOME_CODES],
            ),
            timeseries(
                "Objects by result",
                "Objects in the latest job of every module, summed by result.",
                "short",
                *(
                    target(f"sum({metric(f'avepoint_backup_job_{result}_objects', c)})", result)
                    for result in ("successful", "failed", "skipped", "warning")
                ),
                overrides=[by_name("failed", color={"fixedColor": "red", "mode": "fixed"})],
            ),
            timeseries(
                "Size per module", "Size of the latest backup per module.", "bytes", target(metric(SIZE, c), per_module)
            ),
            timeseries(
                "Duration per module",
                "How long the latest job of every module ran.",
                "s",
                target(metric("avepoint_backup_job_duration_seconds", c), per_module),
            ),
            timeseries(
                "Time since last success per module",
                "Age of every module's last successful (or warning) backup; compare with its expected interval.",
                "s",
                target(f"time() - {metric(LAST_SUCCESS, c)}", per_module),
            ),
            scan_profiles_row(c),
        ],
    )


def scan_profiles_row(c: str) -> Json:
    """The customer's scan profiles (endpoints.scan_profiles): last scan status, last report, daily counts."""
    profile = "customer_id, profile_id"
    named = (
        f"{metric(SCAN_STATUS, c)} * on ({profile}) group_left (profile_name) "
        f"max by ({profile}, profile_name) ({metric(SCAN_INFO, c)})"
    )
    return row(
        "Scan profiles",
        stat(
            "Failing scan profiles",
            "Scan profiles whose last scan failed (alert AvePointScanProfileFailing).",
            "short",
            f"count({metric(SCAN_STATUS, c, FAILED)}) or vector(0)",
            steps=BAD_FROM_1,
        ),
        stat(
            "Silent scan profiles",
            "Scan profiles whose daily report is over 2 days old (alert AvePointScanProfileSilent).",
            "short",
            f"count(time() - {metric(SCAN_UPDATE, c)} > {SCAN_SILENT_SECONDS}) or vector(0)",
            steps=BAD_FROM_1,
        ),
        timeseries(
            "Daily report counts",
            "Objects in the scan profiles' latest daily reports, summed: newly registered, moved to another "
            "container, removed from Microsoft 365 or out of policy.",
            "short",
            *(
                target(f"sum({metric(f'avepoint_scan_profile_{name}_objects', c)})", legend)
                for name, legend in (("new", "new"), ("moved", "moved"), ("out_of_policy", "out of policy"))
            ),
            w=16,
            h=4,
        ),
        table(
            "Scan profile status",
            "Every scan profile of this customer: its last scan's status and outcome, when its daily report was "
            "last generated, and that report's counts.",
            [
                Column("profile_name", "Profile"),
                Column("status", "Last scan"),
                Column("outcome", "Outcome", mappings=(OUTCOME_NAMES,), colour="background"),
                Column("Value #B", "Last report", unit="dateTimeFromNow"),
                Column("Value #C", "New", unit="short"),
                Column("Value #D", "Moved", unit="short"),
                Column("Value #E", "Out of policy", unit="short", steps=BAD_FROM_1, colour="text"),
            ],
            target(named),
            target(f"1000 * {metric(SCAN_UPDATE, c)}"),
            target(metric("avepoint_scan_profile_new_objects", c)),
            target(metric("avepoint_scan_profile_moved_objects", c)),
            target(metric("avepoint_scan_profile_out_of_policy_objects", c)),
            keys=["customer_id", "profile_id"],
            sort_by="Profile",
            h=8,
        ),
    )


def exporter() -> Json:
    e = THIS_EXPORTER
    by_customer = "{{endpoint}} {{organization}}"

    def refresh_with_organization(expr: str) -> str:
        # The customer listing (customer_id="") has no organization; `or` keeps it.
        return f"{with_organization(expr, e)} or on(customer_id, endpoint) {expr}"

    data_age = f"time() - {metric(REFRESH_LAST, e)}"
    bucket_rate = f"rate({metric('avepoint_api_request_duration_seconds_bucket', e)}[$__rate_interval])"
    return dashboard(
        "avepoint-exporter",
        "AvePoint backup / Exporter health",
        "The exporter itself: AvePoint API traffic and latency, refreshes per customer, data age, parse errors.",
        since="now-6h",
        panels=[
            stat(
                "Exporter",
                "Whether Prometheus can scrape the exporter (up).",
                "none",
                metric("up", e),
                mappings=[UP_DOWN],
            ),
            stat(
                "AvePoint API",
                "Whether the exporter can authenticate and list customers (avepoint_up).",
                "none",
                metric("avepoint_up", e),
                mappings=[UP_DOWN],
            ),
            stat(
                "Version",
                "Version of the running exporter.",
                "none",
                metric("avepoint_exporter_build_info", e),
                legend="{{version}}",
                text_mode="name",
            ),
            stat(
                "Configuration",
                "Whether the last configuration (re)load worked; a refused reload keeps the old configuration.",
                "none",
                metric("avepoint_config_last_reload_successful", e),
                mappings=[value_mapping((1, "loaded", "green"), (0, "reload failed", "red"))],
            ),
            stat(
                "Oldest data",
                "Age of the oldest data the exporter serves: time since the least recent successful refresh.",
                "s",
                f"max({data_age})",
                steps=thresholds((None, "green"), (900, "yellow"), (3600, "red")),
            ),
            stat(
                "Refresh cycle",
                "Duration of the last refresh of all customers.",
                "s",
                f"max({metric('avepoint_refresh_duration_seconds', e)})",
            ),
            row(
                "AvePoint API",
                timeseries(
                    "API requests",
                    "Requests to the AvePoint API per second, by route and HTTP code (timeout and "
                    "connection_error when there was no response).",
                    "reqps",
                    target(
                        f"sum by (endpoint, code) (rate({metric('avepoint_api_requests_total', e)}[$__rate_interval]))",
                        "{{endpoint}} {{code}}",
                    ),
                ),
                timeseries(
                    "API latency",
                    "Median and 99th percentile of AvePoint API request durations, by route.",
                    "s",
                    target(f"histogram_quantile(0.5, sum by (endpoint, le) ({bucket_rate}))", "p50 {{endpoint}}"),
                    target(f"histogram_quantile(0.99, sum by (endpoint, le) ({bucket_rate}))", "p99 {{endpoint}}"),
                ),
            ),
            row(
                "Refresh",
                table(
                    "Refresh per customer",
                    "Whether the last refresh of each customer (and of the customer list) worked, and the age of "
                    "its data; failures first.",
                    [
                        Column("organization", "Organization"),
                        Column("customer_id", "Customer id"),
                        Column("endpoint", "Endpoint"),
                        Column("Value #A", "Last refresh", unit="none", mappings=(OK_FAILED,), colour="background"),
                        Column("Value #B", "Data age", unit="s"),
                    ],
                    target(refresh_with_organization(metric(REFRESH_OK, e))),
                    target(data_age),
                    keys=["customer_id", "endpoint"],
                    sort_by="Last refresh",
                    w=12,
                ),
                timeseries(
                    "Data age per customer",
                    "Time since each customer's data was last fetched successfully.",
                    "s",
                    target(refresh_with_organization(data_age), by_customer),
                    h=10,
                ),
                timeseries(
                    "Refresh cycle duration",
                    "Duration of the last refresh of all customers.",
                    "s",
                    target(metric("avepoint_refresh_duration_seconds", e), "{{instance}}"),
                    w=8,
                ),
                timeseries(
                    "Scrape duration",
                    "How long the exporter took to answer the previous /metrics request.",
                    "s",
                    target(metric("avepoint_scrape_duration_seconds", e), "{{instance}}"),
                    w=8,
                ),
                timeseries(
                    "Parse errors",
                    "API values that did not parse, by API field (0 when there were none).",
                    "short",
                    target(
                        f"sum by (field) (increase({metric('avepoint_parse_errors_total', e)}[$__rate_interval]))"
                        " or on() vector(0)",
                        "{{field}}",
                    ),
                    w=8,
                ),
            ),
            row(
                "Process",
                timeseries(
                    "Resident memory",
                    "Memory the exporter process holds.",
                    "bytes",
                    target(metric("process_resident_memory_bytes", e), "{{instance}}"),
                    w=8,
                ),
                timeseries(
                    "CPU",
                    "CPU time the exporter uses per second (1 = one core).",
                    "percentunit",
                    target(f"rate({metric('process_cpu_seconds_total', e)}[$__rate_interval])", "{{instance}}"),
                    w=8,
                ),
                timeseries(
                    "Open file descriptors",
                    "File descriptors the exporter process holds open.",
                    "short",
                    target(metric("process_open_fds", e), "{{instance}}"),
                    w=8,
                ),
                collapsed=True,
            ),
        ],
    )


# --- Public interface -------------------------------------------------------------------------------------------


# "Export for sharing" (grafana.com, Grafana's Import UI): the import asks for a Prometheus data source and puts
# it where ${DS_PROMETHEUS} stands; there is no datasource variable to pick one from.
SHARED_DATASOURCE: Json = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
# The Grafana release whose dashboard schemaVersion is 39, the one the dashboards are written in.
GRAFANA_VERSION = "10.3.0"
PANEL_PLUGINS = {
    "piechart": "Pie chart",
    "stat": "Stat",
    "state-timeline": "State timeline",
    "table": "Table",
    "timeseries": "Time series",
}


def for_sharing(dashboard: Json) -> Json:
    """`dashboard` in Grafana's export-for-sharing form: `__inputs`, `__requires`, `${DS_PROMETHEUS}`."""

    def convert(node: Any) -> Any:
        if node == DATASOURCE:
            return SHARED_DATASOURCE
        if isinstance(node, dict):
            return {key: convert(value) for key, value in node.items()}
        if isinstance(node, list):
            return [convert(value) for value in node if value != datasource_variable()]
        if isinstance(node, str):
            # Links to the other dashboards: they have no datasource variable either.
            return node.replace("&var-datasource=${datasource}", "")
        return node

    shared = convert(dashboard)
    types = sorted({p["type"] for p in all_panels(shared) if p["type"] != "row"})
    requires = [
        {"id": "grafana", "name": "Grafana", "type": "grafana", "version": GRAFANA_VERSION},
        {"id": "prometheus", "name": "Prometheus", "type": "datasource", "version": "1.0.0"},
        *({"id": kind, "name": PANEL_PLUGINS[kind], "type": "panel", "version": ""} for kind in types),
    ]
    inputs = [
        {
            "description": "The Prometheus that scrapes the AvePoint backup exporter",
            "label": "Prometheus",
            "name": "DS_PROMETHEUS",
            "pluginId": "prometheus",
            "pluginName": "Prometheus",
            "type": "datasource",
        }
    ]
    return {"__elements": {}, "__inputs": inputs, "__requires": requires, "id": None, **shared}


def build_exports() -> dict[str, Json]:
    """File name under grafana.com/ -> the dashboard in export-for-sharing form."""
    return {name: for_sharing(d) for name, d in build().items()}


def outputs() -> dict[Path, Json]:
    """Every file the generator writes: the provisioning form, then the grafana.com form."""
    files = {HERE / name: d for name, d in build().items()}
    return files | {HERE / "grafana.com" / name: d for name, d in build_exports().items()}


def build() -> dict[str, Json]:
    """File name -> dashboard."""
    return {
        "avepoint-fleet.json": fleet(),
        "avepoint-customer.json": customer(),
        "avepoint-exporter.json": exporter(),
    }


def render(dashboard: Json) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def all_panels(dashboard: Json) -> Iterator[Json]:
    """Every panel, rows and the panels inside (collapsed) rows included."""
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])


def panel_queries(dashboard: Json) -> list[tuple[str, str]]:
    """(panel title, PromQL expr) of every target of every panel."""
    return [(p["title"], t["expr"]) for p in all_panels(dashboard) for t in p.get("targets", [])]


_BUILTINS = re.compile(r"\$__(rate_interval|interval|range)\b")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|\[\]{}/])")


def substitute(
    expr: str,
    values: Mapping[str, str] | None = None,
    *,
    rate_interval: str = "1m",
    interval: str = "15s",
    range_: str = "1h",
) -> str:
    """`expr` as Grafana would send it: built-in intervals and `$var`, `${var}`, `${var:regex}` replaced.

    Values go inside PromQL double-quoted strings, so backslashes and quotes are escaped; `:regex` also escapes
    regular-expression characters, `:raw` inserts the value as it is. A variable without a value (in `values`
    or VARIABLE_DEFAULTS) raises KeyError.
    """
    builtins = {"rate_interval": rate_interval, "interval": interval, "range": range_}
    known = {**VARIABLE_DEFAULTS, **(values or {})}

    def replace(match: re.Match[str]) -> str:
        name, fmt = match[1] or match[3], match[2]
        if name not in known:
            raise KeyError(f"no value for dashboard variable ${name}")
        value = known[name]
        if fmt == "raw":
            return value
        if fmt == "regex":
            value = _REGEX_SPECIAL.sub(r"\\\1", value)
        elif fmt is not None:
            raise ValueError(f"unsupported variable format ${{{name}:{fmt}}}")
        return value.replace("\\", "\\\\").replace('"', '\\"')

    return _VARIABLE.sub(replace, _BUILTINS.sub(lambda m: builtins[m[1]], expr))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the Grafana dashboards of the AvePoint backup exporter.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a committed file differs")
    args = parser.parse_args(argv)
    outdated = []
    for path, dash in outputs().items():
        name, text = path.relative_to(HERE).as_posix(), render(dash)
        if not args.check:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            outdated.append(name)
    for name in outdated:
        print(
            f"dashboards/{name} differs from the generator's output; run: python dashboards/generate.py",
            file=sys.stderr,
        )
    return 1 if outdated else 0


if __name__ == "__main__":
    sys.exit(main())

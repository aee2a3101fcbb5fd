"""The dashboards' building blocks: metric names and selectors, PromQL helpers, panels, variables, layout."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

Json = dict[str, Any]

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

"""The "Backup report" dashboard: one customer's (or the fleet's) month of backups, laid out to print or share.

Every number is over the period of Grafana's time picker ($__range, evaluated at its end): the run counters'
increase() for runs, failures and the success ratio (the recording rules have fixed windows; a report has the
month the reader picks), the last-success gauge sampled every 5 minutes for the longest time without a success.
Missing data says "no data", never 0: nothing here adds `or vector(0)`.
"""

from __future__ import annotations

from dashboards.panels import (
    BAD_FROM_1,
    JOB,
    LAST_SUCCESS,
    SCOPE,
    SIZE,
    STATUS,
    SUB_EXPIRY,
    Column,
    Json,
    backups_only,
    by_name,
    dashboard,
    metric,
    query_variable,
    stat,
    table,
    target,
    thresholds,
    timeseries,
    with_organization,
)

RUNS = "avepoint_backup_job_runs_total"
SEEN_SINCE = "avepoint_backup_job_runs_seen_since_timestamp_seconds"
PROTECTED = "avepoint_protected_objects"
SCANNED = "avepoint_protected_scanned_objects"
CUSTOMERS = 'customer_id=~"$customer_id"'
ORGANIZATIONS = 'organization=~"$organization"'
# The outcomes of a finished run (the counters' contract); the ratio leaves canceled out (a person stopped it).
FINISHED = 'outcome=~"success|warning|failed|canceled|unknown"'
JUDGED = 'outcome=~"success|warning|failed|unknown"'
SUCCEEDED = 'outcome=~"success|warning"'
FAILED = 'outcome="failed"'
NOT_RUN = 'outcome="not_run"'
# The resolution at which the longest time without a success is sampled: the exporter's usual refresh.
GAP_STEP = "5m"
NO_DATA = "no data"
RATIO_STEPS = thresholds((None, "red"), (0.9, "orange"), (0.99, "green"))
CUSTOMER_KEYS = ("customer_id", "organization")
JOB_KEYS = ("customer_id", "organization", "job_type", "job_module")


def runs(outcomes: str, by: str) -> str:
    """Backup runs with `outcomes` that finished in the period, summed `by` labels (rounded: increase()
    extrapolates to the period's edges, and runs are whole)."""
    counted = backups_only(f"increase({metric(RUNS, CUSTOMERS, outcomes)}[$__range])")
    return f"round(sum by ({by}) ({counted}))"


def success_ratio(by: str) -> str:
    """Successful runs over finished runs (canceled left out); no sample where no run finished."""
    ok = backups_only(f"increase({metric(RUNS, CUSTOMERS, SUCCEEDED)}[$__range])")
    judged = backups_only(f"increase({metric(RUNS, CUSTOMERS, JUDGED)}[$__range])")
    return f"sum by ({by}) ({ok}) / (sum by ({by}) ({judged}) > 0)"


def longest_without_success(by: str) -> str:
    """The longest a job went without a success in the period: its age of the last success at worst, sampled
    every GAP_STEP. A job never seen succeeding has no sample (its age is unknown, not 0)."""
    age = f"max_over_time((time() - {metric(LAST_SUCCESS, CUSTOMERS)})[$__range:{GAP_STEP}])"
    return f"max by ({by}) ({backups_only(age)})"


def backed_up(expr: str) -> str:
    """`expr` without jobs that have not run (never, or skipped): their size of 0 is no backup's size."""
    return f"({expr}) unless on({JOB}) {metric(STATUS, CUSTOMERS, NOT_RUN)}"


def size_at_end(by: str) -> str:
    """The size of each job's latest backup at the end of the period (its last sample in the period)."""
    return f"sum by ({by}) ({backed_up(backups_only(f'last_over_time({metric(SIZE, CUSTOMERS)}[$__range])'))})"


def coverage() -> str:
    """Protected over scanned objects at the end of the period, per customer, service and module: the recording
    rule avepoint:protected_coverage_ratio's expression, written out so that a month from before the rules
    were loaded (or a backfilled one) has its coverage too. Nothing scanned: no coverage, not a division by 0."""
    protected = f"last_over_time({metric(PROTECTED, CUSTOMERS)}[$__range])"
    scanned = f"last_over_time({metric(SCANNED, CUSTOMERS)}[$__range])"
    return f"{protected} / on (customer_id, service, module, job, instance) ({scanned} > 0)"


# The period's figures both tables show, per customer or per job: columns A to E and their queries.
PERIOD_COLUMNS = (
    Column("Value #A", "Runs", unit="short"),
    Column("Value #B", "Failed", unit="short", steps=BAD_FROM_1, colour="text"),
    Column("Value #C", "Success ratio", unit="percentunit", steps=RATIO_STEPS, colour="text"),
    Column("Value #D", "Longest without a success", unit="s"),
    Column("Value #E", "Size at the end", unit="bytes"),
)


def _period_targets(by: str) -> list[Json]:
    """The queries of PERIOD_COLUMNS, grouped `by`."""
    figures = (runs(FINISHED, by), runs(FAILED, by), success_ratio(by), longest_without_success(by), size_at_end(by))
    return [target(_named(expression)) for expression in figures]


def _named(expr: str) -> str:
    return with_organization(expr, *SCOPE, CUSTOMERS)


def _no_data(p: Json) -> Json:
    """Empty results read "no data" (Grafana's noValue), in every panel of the report."""
    p["fieldConfig"]["defaults"]["noValue"] = NO_DATA
    return p


def _daily(query: Json) -> Json:
    # One point a day: each point is the runs of the day before it.
    return {**query, "interval": "1d"}


def report() -> Json:
    # Grafana's "All": the organization's allValue matches every organization; the hidden customer_id variable
    # has none, so its All is the regex of the ids the chosen organization (or every one) has.
    everything = {"selected": True, "text": "All", "value": "$__all"}
    variables = [
        {
            **query_variable(
                "organization",
                "Organization",
                f"label_values({metric('avepoint_customer_info', *SCOPE)}, organization)",
            ),
            "includeAll": True,
            "allValue": ".+",
            "current": everything,
        },
        {
            **query_variable(
                "customer_id",
                "Customer id",
                f"label_values({metric('avepoint_customer_info', *SCOPE, ORGANIZATIONS)}, customer_id)",
                hidden=True,
            ),
            "includeAll": True,
            "current": everything,
        },
    ]
    panels = [
        stat(
            "Backup runs",
            "Backup runs that finished in the period (success, warning, failed, canceled or unknown), as the exporter "
            "saw them: a run that starts and ends between two refreshes is not seen.",
            "short",
            runs(FINISHED, ""),
        ),
        stat(
            "Failed runs",
            "Backup runs that finished with a failure in the period.",
            "short",
            runs(FAILED, ""),
            steps=BAD_FROM_1,
        ),
        stat(
            "Success ratio",
            "Share of the finished backup runs that succeeded (success or warning); canceled runs are left out.",
            "percentunit",
            success_ratio(""),
            steps=RATIO_STEPS,
        ),
        stat(
            "Longest without a success",
            "The longest any backup job went without a successful run in the period, counted from its last "
            "success even when that was before the period (a job unprotected since the 28th of the month before "
            "counts from then, as the monthly report does); from the exporter's last-success time, unknown for a "
            "job never seen succeeding. Sampled every 5 minutes: a month is 8,640 steps per job, so a view of "
            "more than about 5,800 jobs passes Prometheus' default --query.max-samples (50,000,000): pick an "
            "organization, or raise the limit.",
            "s",
            longest_without_success(""),
            steps=thresholds((None, "green"), (129600, "orange"), (259200, "red")),
        ),
        stat(
            "Backup size at the end",
            "The size of every backup job's latest backup at the end of the period, summed.",
            "bytes",
            size_at_end(""),
        ),
        stat(
            "Lowest coverage",
            "The lowest share of scanned objects that are protected, over the services and modules "
            "(protected data must be read: endpoints.protected).",
            "percentunit",
            f"min({coverage()})",
            steps=RATIO_STEPS,
        ),
        table(
            "Customers",
            "Per customer in the period: finished backup runs, failed runs, success ratio, the longest time any of "
            "its jobs went without a success, and the size of its latest backups at the end.",
            [
                Column("organization", "Organization"),
                Column("customer_id", "Customer id"),
                *PERIOD_COLUMNS,
            ],
            *_period_targets("customer_id"),
            keys=CUSTOMER_KEYS,
            sort_by="Organization",
            h=8,
        ),
        table(
            "Backup jobs",
            "Per backup job (job type and module) in the period: finished runs, failed runs, success ratio, the "
            "longest time without a success, the size of its latest backup at the end, and since when the "
            "exporter counts its runs (runs before that are not in these numbers).",
            [
                Column("organization", "Organization"),
                Column("job_type", "Job type"),
                Column("job_module", "Module"),
                *PERIOD_COLUMNS,
                Column("Value #F", "Runs counted since", unit="dateTimeAsIso"),
            ],
            *_period_targets(JOB),
            target(
                _named(f"1000 * min by ({JOB}) (min_over_time({metric(SEEN_SINCE, CUSTOMERS)}[$__range]))"),
            ),
            keys=JOB_KEYS,
            sort_by="Organization",
            h=12,
        ),
        timeseries(
            "Backup runs per day",
            "Backup runs that finished each day, by outcome (each point counts the day before it).",
            "short",
            _daily(
                target(
                    f"round(sum by (outcome) ({backups_only(f'increase({metric(RUNS, CUSTOMERS, FINISHED)}[1d])')}))",
                    "{{outcome}}",
                )
            ),
            stack=True,
            overrides=[
                by_name("failed", color={"fixedColor": "red", "mode": "fixed"}),
                by_name("success", color={"fixedColor": "green", "mode": "fixed"}),
                by_name("warning", color={"fixedColor": "yellow", "mode": "fixed"}),
                by_name("canceled", color={"fixedColor": "orange", "mode": "fixed"}),
                by_name("unknown", color={"fixedColor": "purple", "mode": "fixed"}),
            ],
            w=24,
        ),
        timeseries(
            "Backup size",
            "Size of the latest backup of each job over the period: a trend, and a drop where data was deleted "
            "or a backup was partial. Gaps are times the exporter did not report the job.",
            "bytes",
            target(
                _named(f"sum by ({JOB}) ({backed_up(backups_only(metric(SIZE, CUSTOMERS)))})"),
                "{{organization}}: {{job_module}}",
            ),
            w=24,
        ),
        table(
            "Coverage",
            "Share of the scanned objects that are protected, per service and module, at the end of the period.",
            [
                Column("organization", "Organization"),
                Column("service", "Service"),
                Column("module", "Module"),
                Column("Value", "Protected share", unit="percentunit", steps=RATIO_STEPS, colour="text"),
            ],
            target(_named(coverage())),
            keys=("customer_id", "organization", "service", "module"),
            sort_by="Organization",
            h=8,
        ),
        table(
            "Subscriptions",
            "When each subscription expires, as AvePoint reported it at the end of the period (needs "
            "endpoints.services).",
            [
                Column("organization", "Organization"),
                Column("service", "Service"),
                Column("subscription", "Subscription"),
                Column("Value", "Expires", unit="dateTimeAsIsoNoDateIfToday"),
            ],
            target(_named(f"1000 * last_over_time({metric(SUB_EXPIRY, CUSTOMERS)}[$__range])")),
            keys=("customer_id", "organization", "service", "subscription"),
            sort_by="Organization",
            h=8,
        ),
    ]
    board = dashboard(
        "avepoint-report",
        "AvePoint backup / Backup report",
        "A month of one customer's backups (or the fleet's, with All), to print or share: runs, failures, success "
        "ratio, longest time without a success, backup size, coverage and subscriptions. Pick the month in the "
        "time picker.",
        since="now-1M/M",
        variables=variables,
        panels=[_no_data(p) for p in panels],
    )
    # Last month, whole, and no auto-refresh: a report is read, printed or shared, not watched.
    return {**board, "refresh": "", "time": {"from": "now-1M/M", "to": "now-1M/M"}}

// The alerts (prometheusAlerts), every threshold, selector and interval taken from _config.
// Documentation of every alert: alerts/README.md. Thresholds and `for:` durations are chosen so that one
// flaky API call never pages anyone: the exporter keeps serving its last good data through short failures.
// Numbers as a person writes them in PromQL (0.05, 1073741824), not Jsonnet's 17 digits of a double.
local num(x) = if std.floor(x) == x then '%d' % x else '%g' % x;
{
  local cfg = std.mapWithKey(function(key, value) if std.isNumber(value) then num(value) else value, $._config),
  local runbook(name) = cfg.runbookUrlBase + std.asciiLower(name),
  local alert(name, severity, expr, forDuration, summary, description) = {
    alert: name,
    expr: expr,
    'for': forDuration,
    labels: { severity: severity },
    annotations: { summary: summary, description: description, runbook_url: runbook(name) },
  },

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'avepoint-backup.jobs',
        rules: [
          alert(
            'AvePointBackupJobFailed', 'warning',
            |||
              (
                avepoint_backup_job_status{outcome="failed"} == 1
                  unless on (customer_id, job_type, job_module)
                avepoint_backup_job_kind{kind!="backup"}
              )
                * on (customer_id) group_left (organization)
              max by (customer_id, organization) (avepoint_customer_info)
            |||,
            '15m',
            'AvePoint backup job failed.',
            'The latest {{ $labels.job_type }} / {{ $labels.job_module }} backup of {{ $labels.organization }} (customer {{ $labels.customer_id }}) ended with status "{{ $labels.status }}".',
          ),
          // Any failed object at all: information, since a large estate always has a few; the ratio
          // alert below is the one that warns.
          alert(
            'AvePointBackupJobFailedObjects', 'info',
            |||
              (
                (
                  avepoint_backup_job_failed_objects > 0
                    and on (customer_id, job_type, job_module)
                  avepoint_backup_job_status{outcome=~"success|warning"} == 1
                )
                  unless on (customer_id, job_type, job_module)
                avepoint_backup_job_kind{kind!="backup"}
              )
                * on (customer_id) group_left (organization)
              max by (customer_id, organization) (avepoint_customer_info)
            |||,
            '15m',
            'AvePoint backup job finished with failed objects.',
            'The latest {{ $labels.job_type }} / {{ $labels.job_module }} backup of {{ $labels.organization }} (customer {{ $labels.customer_id }}) finished, but {{ $value | printf "%.0f" }} objects failed.',
          ),
          // A share of the objects, not a count, of finished jobs of at least failedObjectsMinObjects.
          alert(
            'AvePointBackupJobFailedObjectsRatio', 'warning',
            |||
              (
                (
                  (
                    avepoint_backup_job_failed_objects
                      / on (customer_id, job_type, job_module)
                    avepoint_backup_job_objects > %(failedObjectsRatio)s
                  )
                    and on (customer_id, job_type, job_module)
                  avepoint_backup_job_objects >= %(failedObjectsMinObjects)s
                    and on (customer_id, job_type, job_module)
                  avepoint_backup_job_status{outcome=~"success|warning"} == 1
                )
                  unless on (customer_id, job_type, job_module)
                avepoint_backup_job_kind{kind!="backup"}
              )
                * on (customer_id) group_left (organization)
              max by (customer_id, organization) (avepoint_customer_info)
            ||| % cfg,
            '15m',
            "A large share of an AvePoint backup job's objects failed.",
            'The latest {{ $labels.job_type }} / {{ $labels.job_module }} backup of {{ $labels.organization }} (customer {{ $labels.customer_id }}) finished, but {{ $value | humanizePercentage }} of its objects failed.',
          ),
          // Stale: no successful (or warning) job for staleFactor times the job's expected interval. Modules
          // that never succeeded have no last-success series, and excluded customers have no series at
          // all: both stay silent.
          alert(
            'AvePointBackupStale', 'critical',
            |||
              (
                (
                  time() - avepoint_backup_job_last_success_timestamp_seconds
                    > %(staleFactor)s * avepoint_backup_job_expected_interval_seconds
                )
                  unless on (customer_id, job_type, job_module)
                avepoint_backup_job_kind{kind!="backup"}
              )
                * on (customer_id) group_left (organization)
              max by (customer_id, organization) (avepoint_customer_info)
            ||| % cfg,
            '30m',
            'No successful AvePoint backup within the expected interval.',
            '{{ $labels.job_type }} / {{ $labels.job_module }} of {{ $labels.organization }} (customer {{ $labels.customer_id }}) last backed up successfully {{ $value | humanizeDuration }} ago.',
          ),
          alert(
            'AvePointBackupNeverRun', 'info',
            |||
              (
                (
                  avepoint_backup_job_info{job_id=""} == 1
                    and on (customer_id, job_type, job_module)
                  avepoint_backup_job_status{outcome="not_run"} == 1
                )
                  unless on (customer_id, job_type, job_module)
                avepoint_backup_job_kind{kind!="backup"}
              )
                * on (customer_id) group_left (organization)
              max by (customer_id, organization) (avepoint_customer_info)
            |||,
            '6h',
            'AvePoint backup module configured but never run.',
            '{{ $labels.job_type }} / {{ $labels.job_module }} of {{ $labels.organization }} (customer {{ $labels.customer_id }}) has no backup job yet.',
          ),
          // Sharp drop: the completed size is under sizeDropRatio of a day before, and was at least
          // sizeDropMinBytes.
          alert(
            'AvePointBackupSizeDropped', 'warning',
            |||
              (
                avepoint:backup_job_size_bytes:completed
                  < %(sizeDropRatio)s * (avepoint:backup_job_size_bytes:completed offset 1d)
                and
                (avepoint:backup_job_size_bytes:completed offset 1d) >= %(sizeDropMinBytes)s
              )
                * on (customer_id) group_left (organization)
              max by (customer_id, organization) (avepoint_customer_info)
            ||| % cfg,
            '1h',
            'AvePoint backup size dropped sharply.',
            'The {{ $labels.job_type }} / {{ $labels.job_module }} backup of {{ $labels.organization }} (customer {{ $labels.customer_id }}) is {{ $value | humanize1024 }}B, less than %d%% of its size a day ago.' % std.round($._config.sizeDropRatio * 100),
          ),
        ],
      },
      {
        name: 'avepoint-backup.subscriptions',
        rules: [
          // Two severities, one name: a warning from subscriptionWarningDays before expiry, critical from
          // subscriptionCriticalDays (and once expired).
          alert(
            'AvePointSubscriptionExpiring', 'warning',
            |||
              (
                avepoint_subscription_expiry_timestamp_seconds - time() < %(subscriptionWarningDays)s * 86400
                and
                avepoint_subscription_expiry_timestamp_seconds - time() >= %(subscriptionCriticalDays)s * 86400
              )
                * on (customer_id) group_left (organization)
              max by (customer_id, organization) (avepoint_customer_info)
            ||| % cfg,
            '1h',
            'An AvePoint subscription expires within %(subscriptionWarningDays)s days.' % cfg,
            'The {{ $labels.service }} subscription "{{ $labels.subscription }}" of {{ $labels.organization }} (customer {{ $labels.customer_id }}) expires in {{ $value | humanizeDuration }}.',
          ),
          alert(
            'AvePointSubscriptionExpiring', 'critical',
            |||
              (avepoint_subscription_expiry_timestamp_seconds - time() < %(subscriptionCriticalDays)s * 86400)
                * on (customer_id) group_left (organization)
              max by (customer_id, organization) (avepoint_customer_info)
            ||| % cfg,
            '1h',
            'An AvePoint subscription expires within %(subscriptionCriticalDays)s days or has expired.' % cfg,
            'The {{ $labels.service }} subscription "{{ $labels.subscription }}" of {{ $labels.organization }} (customer {{ $labels.customer_id }}) expires in {{ $value | humanizeDuration }} (negative: expired).',
          ),
          alert(
            'AvePointCapacityNearlyFull', 'warning',
            |||
              (
                avepoint_subscription_capacity_consumed_bytes / avepoint_subscription_capacity_purchased_bytes > %(capacityRatio)s
                and
                avepoint_subscription_capacity_purchased_bytes > 0
              )
                * on (customer_id) group_left (organization)
              max by (customer_id, organization) (avepoint_customer_info)
            ||| % cfg,
            '1h',
            'An AvePoint subscription has used over %d%% of its purchased capacity.' % std.round($._config.capacityRatio * 100),
            'The {{ $labels.service }} subscription "{{ $labels.subscription }}" of {{ $labels.organization }} (customer {{ $labels.customer_id }}) has used {{ $value | humanizePercentage }} of its purchased capacity.',
          ),
          // The capacity alert's sibling for seats (v3's user seats per tenant). availableUserSeat is read as
          // the seats still free (README, "What the documentation does not settle"), so the share used is
          // assigned / (assigned + available).
          alert(
            'AvePointSeatsNearlyUsedUp', 'warning',
            |||
              (
                avepoint_tenant_user_seats_assigned
                  / on (customer_id, tenant_type, tenant_id, tenant_name, job, instance)
                (avepoint_tenant_user_seats_assigned + avepoint_tenant_user_seats_available) > %(seatsRatio)s
                and
                (avepoint_tenant_user_seats_assigned + avepoint_tenant_user_seats_available) > 0
              )
                * on (customer_id) group_left (organization)
              max by (customer_id, organization) (avepoint_customer_info)
            ||| % cfg,
            '1h',
            'An AvePoint customer tenant has assigned over %d%% of its user seats.' % std.round($._config.seatsRatio * 100),
            'The {{ $labels.tenant_type }} tenant "{{ $labels.tenant_name }}" ({{ $labels.tenant_id }}) of {{ $labels.organization }} (customer {{ $labels.customer_id }}) has assigned {{ $value | humanizePercentage }} of its user seats.',
          ),
        ],
      },
      {
        name: 'avepoint-backup.exporter',
        rules: [
          alert(
            'AvePointExporterDown', 'critical',
            'up{%(exporterSelector)s} == 0' % cfg,
            cfg.exporterDownFor,
            'The AvePoint backup exporter cannot be scraped.',
            'Prometheus could not scrape {{ $labels.instance }} for %(exporterDownFor)s: no backup is being monitored there.' % cfg,
          ),
          // The companion of AvePointExporterDown: `up == 0` says nothing when the target is gone
          // altogether (a ServiceMonitor whose labels no longer match, a scrape config removed, the job
          // renamed).
          alert(
            'AvePointExporterAbsent', 'critical',
            'absent(up{%(exporterSelector)s})' % cfg,
            cfg.exporterAbsentFor,
            'Prometheus has no AvePoint backup exporter target.',
            'Prometheus has had no target of job "{{ $labels.job }}" (up{%(exporterSelector)s}) for %(exporterAbsentFor)s: nothing about any backup is being collected, and no other AvePoint alert can fire.' % cfg,
          ),
          // Scraped, but no job metrics at all: every job alert is silent. Per instance rather than
          // absent(), so one empty exporter beside a healthy one is still seen. avepoint_up == 0 has its
          // own alert.
          alert(
            'AvePointBackupJobsAbsent', 'warning',
            |||
              up{%(exporterSelector)s} == 1
                unless on (job, instance)
              avepoint_backup_job_status
            ||| % cfg,
            cfg.jobsAbsentFor,
            'The AvePoint backup exporter reports no backup jobs.',
            '{{ $labels.instance }} has been scraped for %(jobsAbsentFor)s without a single avepoint_backup_job_status series: no backup job of any customer is being watched there.' % cfg,
          ),
          alert(
            'AvePointApiUnreachable', 'critical',
            'avepoint_up == 0',
            cfg.apiUnreachableFor,
            'The exporter cannot authenticate to or list customers from the AvePoint API.',
            '{{ $labels.instance }} has failed to list AvePoint customers for %(apiUnreachableFor)s; it serves its last known data, which is growing old.' % cfg,
          ),
          alert(
            'AvePointApiAuthFailing', 'critical',
            |||
              sum by (job, instance) (increase(avepoint_api_requests_total{endpoint="token", code=~"400|401|403"}[%(apiRateWindow)s])) > 0
              unless
              sum by (job, instance) (increase(avepoint_api_requests_total{endpoint="token", code="200"}[%(apiRateWindow)s])) > 0
            ||| % cfg,
            '10m',
            "The AvePoint token endpoint refuses the exporter's credentials.",
            '{{ $labels.instance }} gets no access token: the token endpoint answered 400/401/403 {{ $value | printf "%%.0f" }} times in %(apiRateWindow)s. The client secret or certificate may have expired.' % cfg,
          ),
          alert(
            'AvePointApiThrottled', 'warning',
            |||
              sum by (job, instance) (rate(avepoint_api_requests_total{code="429"}[%(apiRateWindow)s]))
                / sum by (job, instance) (rate(avepoint_api_requests_total[%(apiRateWindow)s]))
              > %(throttledRatio)s
            ||| % cfg,
            '30m',
            'The AvePoint API is rate-limiting the exporter.',
            "{{ $value | humanizePercentage }} of {{ $labels.instance }}'s API requests were answered 429 over the last %(apiRateWindow)s." % cfg,
          ),
          alert(
            'AvePointDataStale', 'warning',
            |||
              (
                time() - avepoint_refresh_last_success_timestamp_seconds{endpoint="jobs"} > %(dataStaleSeconds)s
              )
                * on (customer_id) group_left (organization)
              max by (customer_id, organization) (avepoint_customer_info)
            ||| % cfg,
            '15m',
            "The exporter's data for an AvePoint customer is old.",
            'The backup jobs of {{ $labels.organization }} (customer {{ $labels.customer_id }}) were last fetched {{ $value | humanizeDuration }} ago.',
          ),
        ],
      },
    ],
  },
}

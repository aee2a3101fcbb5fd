// The success ratios (issue 15): recording rules over the run counters and the alert on a customer's 7-day ratio.
// A ratio is the share of finished backup runs that succeeded: success and warning (it finished, with some
// objects skipped or failed) over every finished run but the canceled ones (a person stopped those: they say
// nothing about reliability). Where no run finished in the window there is no sample, never a 0 or a 1.
local num(x) = if std.floor(x) == x then '%d' % x else '%g' % x;
{
  local cfg = std.mapWithKey(function(key, value) if std.isNumber(value) then num(value) else value, $._config),
  // Backups only, as in rules.libsonnet: scans, archiver and retention jobs share the counters' labels.
  // increase() takes counter resets (an exporter restart without a state file starts every counter at 0).
  // The target labels (job, instance) stay: dashboards pick one exporter, and two must never add up.
  local ratio(by, window) = |||
    sum by (job, instance, %(by)s) (
      increase(avepoint_backup_job_runs_total{outcome=~"success|warning"}[%(window)s])
        unless on (customer_id, job_type, job_module)
      avepoint_backup_job_kind{kind!="backup"}
    )
      /
    (
      sum by (job, instance, %(by)s) (
        increase(avepoint_backup_job_runs_total{outcome=~"success|warning|failed|unknown"}[%(window)s])
          unless on (customer_id, job_type, job_module)
        avepoint_backup_job_kind{kind!="backup"}
      )
        > 0
    )
  ||| % { by: by, window: window },
  local job = 'customer_id, job_type, job_module',
  local windows = ['1d', '7d', '30d'],

  prometheusRules+:: {
    groups+: [
      {
        name: 'avepoint-backup.ratios',
        rules: [
          { record: 'avepoint:backup_job_success_ratio:' + w, expr: ratio(job, w) }
          for w in windows
        ] + [
          // The customer's ratio counts its runs together (not the mean of its jobs' ratios): a job that
          // runs hourly weighs as many runs as it has.
          { record: 'avepoint_customer:backup_job_success_ratio:' + w, expr: ratio('customer_id', w) }
          for w in windows
        ],
      },
    ],
  },

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'avepoint-backup.success',
        rules: [
          {
            alert: 'AvePointBackupSuccessRatioLow',
            // The ratio computed here rather than read from avepoint_customer:...:7d: rule groups are evaluated
            // independently, so a recorded sample may be a group interval late (or, in promtool, missing).
            expr: |||
              (
                %(ratio)s
                  < %(low)s
              )
                * on (customer_id) group_left (organization)
              max by (customer_id, organization) (avepoint_customer_info)
            ||| % { ratio: std.strReplace(std.rstripChars(ratio('customer_id', '7d'), '\n'), '\n', '\n  '), low: cfg.successRatioLow },
            'for': cfg.successRatioFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'AvePoint backups of a customer succeeded in under %d%% of their runs over 7 days.' % ($._config.successRatioLow * 100),
              description: 'Over the last 7 days {{ $value | humanizePercentage }} of the finished backup runs of {{ $labels.organization }} (customer {{ $labels.customer_id }}) succeeded, under the %d%% expected.' % ($._config.successRatioLow * 100),
              runbook_url: cfg.runbookUrlBase + 'avepointbackupsuccessratiolow',
            },
          },
        ],
      },
    ],
  },
}

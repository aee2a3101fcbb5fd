// The mixin's settings: override any of them with `(import "mixin.libsonnet") + { _config+:: { ... } }`.
{
  _config+:: {
    // How the alerts find the exporter's scrape target (the `up` series of its job). The Helm chart's
    // ServiceMonitor and the README's scrape config name the job avepoint-backup-exporter.
    exporterSelector: 'job="avepoint-backup-exporter"',

    // AvePointBackupJobFailedObjectsRatio: the share of a finished job's objects that may fail before it
    // alerts, and the smallest job (in objects) judged at all, so that 1 failure in 3 objects does not page.
    failedObjectsRatio: 0.05,
    failedObjectsMinObjects: 100,

    // AvePointBackupStale: no success for this many times the job's expected interval.
    staleFactor: 1.5,
    // AvePointBackupSizeDropped: completed size under this share of a day before, for backups of at least
    // sizeDropMinBytes.
    sizeDropRatio: 0.5,
    sizeDropMinBytes: 1073741824,
    // AvePointSubscriptionExpiring: warning and critical lead times, in days.
    subscriptionWarningDays: 30,
    subscriptionCriticalDays: 7,
    // AvePointCapacityNearlyFull: share of the purchased capacity consumed.
    capacityRatio: 0.9,
    // AvePointSeatsNearlyUsedUp: share of a tenant's user seats assigned.
    seatsRatio: 0.9,
    // AvePointApiThrottled: share of API requests answered 429.
    throttledRatio: 0.1,
    // AvePointDataStale: a customer's jobs last fetched longer ago than this, in seconds.
    dataStaleSeconds: 3600,
    // AvePointScanProfileSilent: no daily report for longer than this many days (scans run daily);
    // AvePointScanProfileFailing waits this long, since a status stays until the next daily scan.
    scanProfileSilentDays: 2,
    scanProfileFailingFor: '30m',

    // Intervals: the window of the API request rates, and how long the exporter alerts wait.
    apiRateWindow: '15m',
    exporterDownFor: '5m',
    exporterAbsentFor: '15m',
    jobsAbsentFor: '1h',
    apiUnreachableFor: '15m',

    // Where every alert's runbook_url points; the alert's name, lower-cased, is the anchor.
    runbookUrlBase: 'https://github.com/avepoint-backup-exporter/avepoint-backup-exporter/blob/main/alerts/README.md#',
  },
}

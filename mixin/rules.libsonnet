// The recording rules (prometheusRules): the completed backup size the size-drop alert compares; coverage.
{
  prometheusRules+:: {
    groups+: [
      {
        name: 'avepoint-backup.rules',
        rules: [
          // Backup size of jobs that completed (success or warning); running jobs report partial sizes.
          // Backups only: v3 lists scan, archiver and retention jobs in the same answer
          // (avepoint_backup_job_kind). "unless kind!=backup" rather than "and kind=backup": against an
          // exporter without the kind family every job still counts, so no alert goes silent.
          {
            record: 'avepoint:backup_job_size_bytes:completed',
            expr: |||
              (
                avepoint_backup_job_size_bytes
                  and on (customer_id, job_type, job_module)
                avepoint_backup_job_status{outcome=~"success|warning"} == 1
              )
                unless on (customer_id, job_type, job_module)
              avepoint_backup_job_kind{kind!="backup"}
            |||,
          },
        ],
      },
      // Coverage (issue 15, point 4): the share of scanned objects that Cloud Backup for Microsoft 365
      // protects, per customer, service and module (endpoints.protected). A module with nothing scanned has
      // no coverage to speak of: no sample, rather than a division by zero.
      {
        name: 'avepoint-backup.coverage',
        rules: [
          {
            record: 'avepoint:protected_coverage_ratio',
            expr: |||
              avepoint_protected_objects
                / on (customer_id, service, module, job, instance)
              (avepoint_protected_scanned_objects > 0)
            |||,
          },
        ],
      },
    ],
  },
}

// The recording rules (prometheusRules): the completed backup size the size-drop alert compares.
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
    ],
  },
}

// The scan-profile alerts (endpoints.scan_profiles), in their own group: a profile whose last scan failed,
// and one whose daily report has not been generated for longer than scanProfileSilentDays. Documentation:
// alerts/README.md. Both name the organization and the profile, joined from the info families.
local num(x) = if std.floor(x) == x then '%d' % x else '%g' % x;
{
  local cfg = std.mapWithKey(function(key, value) if std.isNumber(value) then num(value) else value, $._config),
  local alert(name, severity, expr, forDuration, summary, description) = {
    alert: name,
    expr: expr,
    'for': forDuration,
    labels: { severity: severity },
    annotations: { summary: summary, description: description, runbook_url: cfg.runbookUrlBase + std.asciiLower(name) },
  },
  // A profile's series with its name and its customer's organization: the value (1, or an age) stays.
  local named(expr) = |||
    (
      (
        %s
      )
        * on (customer_id, profile_id) group_left (profile_name)
      max by (customer_id, profile_id, profile_name) (avepoint_scan_profile_info)
    )
      * on (customer_id) group_left (organization)
    max by (customer_id, organization) (avepoint_customer_info)
  ||| % std.stripChars(expr, '\n'),

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'avepoint-backup.scan-profiles',
        rules: [
          // The status stays until the next daily scan, so a longer for: than the jobs' costs nothing.
          alert(
            'AvePointScanProfileFailing', 'warning',
            named('avepoint_scan_profile_status{outcome="failed"} == 1'),
            cfg.scanProfileFailingFor,
            "An AvePoint scan profile's last scan failed.",
            'The last scan of profile "{{ $labels.profile_name }}" of {{ $labels.organization }} (customer {{ $labels.customer_id }}) ended with status "{{ $labels.status }}": new or moved objects may not be registered for protection until a scan succeeds.',
          ),
          // lastUpdateTime is when the daily report was last generated: a profile that still answers but
          // no longer reports is as blind as a failing one, without saying so.
          alert(
            'AvePointScanProfileSilent', 'warning',
            named('time() - avepoint_scan_profile_last_update_timestamp_seconds > %(scanProfileSilentDays)s * 86400' % cfg),
            '1h',
            'An AvePoint scan profile has not reported for over %(scanProfileSilentDays)s days.' % cfg,
            'Scan profile "{{ $labels.profile_name }}" of {{ $labels.organization }} (customer {{ $labels.customer_id }}) last generated its daily report {{ $value | humanizeDuration }} ago.',
          ),
        ],
      },
    ],
  },
}

// The AvePoint backup exporter's monitoring mixin: alerts (scan profiles' in their own file), recording rules,
// dashboards and their _config.
(import 'config.libsonnet') +
(import 'alerts.libsonnet') +
(import 'scan_profiles.libsonnet') +
(import 'rules.libsonnet') +
(import 'dashboards.libsonnet')

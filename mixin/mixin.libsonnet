// The AvePoint backup exporter's monitoring mixin: alerts, recording rules, dashboards and their _config.
(import 'config.libsonnet') +
(import 'alerts.libsonnet') +
(import 'rules.libsonnet') +
(import 'ratios.libsonnet') +
(import 'dashboards.libsonnet')

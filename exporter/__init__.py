"""avepoint-backup-exporter: AvePoint cloud backup jobs as Prometheus metrics."""

__version__ = "0.1.0"

"""The shipped artifacts: alert rules, dashboards, Helm chart, Dockerfile, README."""

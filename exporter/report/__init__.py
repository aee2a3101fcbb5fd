"""The monthly backup report: a second program beside the pipeline that reads Prometheus, not AvePoint, and
writes one self-contained HTML (and PDF) report per customer plus a fleet summary for the MSP."""

from __future__ import annotations

from exporter.report.command import add_arguments, run
from exporter.report.errors import ReportError

__all__ = ["ReportError", "add_arguments", "run"]

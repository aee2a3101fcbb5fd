"""The report's one error hierarchy, each with the exit code the command line returns for it.

    ReportError                       (.exit_code)
    ├── UsageError           2        a flag, the month, the logo, the time zone
    ├── PrometheusError      1        (.url: without user info or query)
    │   ├── Unreachable               no HTTP answer (connection, DNS, TLS, timeout)
    │   ├── PrometheusHTTPError       an HTTP error or an error envelope (.status, Prometheus' errorType)
    │   └── BadAnswer                 2xx, but not the JSON of Prometheus' HTTP API
    ├── NoData               3        a customer (or the whole month) without any series
    └── OutputError          4        the output folder cannot be made or written

Messages name what failed and never hold a secret: no password, token, or URL user info.
"""

from __future__ import annotations

EXIT_OK = 0


class ReportError(Exception):
    exit_code = 1


class UsageError(ReportError):
    exit_code = 2


class PrometheusError(ReportError):
    exit_code = 1

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class Unreachable(PrometheusError):
    pass


class PrometheusHTTPError(PrometheusError):
    def __init__(self, message: str, *, url: str, status: int) -> None:
        super().__init__(message, url=url)
        self.status = status


class BadAnswer(PrometheusError):
    pass


class NoData(ReportError):
    exit_code = 3


class OutputError(ReportError):
    exit_code = 4


__all__ = [
    "EXIT_OK",
    "BadAnswer",
    "NoData",
    "OutputError",
    "PrometheusError",
    "PrometheusHTTPError",
    "ReportError",
    "Unreachable",
    "UsageError",
]

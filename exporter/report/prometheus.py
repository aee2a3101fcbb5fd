"""A small client of Prometheus' HTTP API (instant and range queries) with its auth and TLS options.

Everything it returns is plain data (label dicts and float samples); everything that goes wrong is a
PrometheusError naming the query and the server (without user info, query string or secrets).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from exporter import safe
from exporter.report.errors import BadAnswer, PrometheusHTTPError, Unreachable, UsageError

# Prometheus refuses range queries of more than 11,000 points per series.
MAX_POINTS = 11_000
# An error body is quoted in the message, but only this much of it: it is the server's text.
_QUOTE = 300


@dataclass(frozen=True)
class Series:
    """One series of a query result: labels without __name__ kept, and its (time, value) samples."""

    labels: Mapping[str, str]
    samples: tuple[tuple[float, float], ...]

    @property
    def last(self) -> float | None:
        return self.samples[-1][1] if self.samples else None


@dataclass(frozen=True)
class Options:
    """The `--prometheus.*` flags."""

    url: str
    username: str | None = None
    password_file: str | None = None
    bearer_token_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False
    timeout: float = 60.0
    headers: Mapping[str, str] = field(default_factory=dict)


def _secret(path: str, flag: str) -> str:
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise UsageError(f"{flag}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{flag}: {path} is not UTF-8 text") from None
    if not text:
        raise UsageError(f"{flag}: {path} is empty")
    return text


class Prometheus:
    """Queries one Prometheus server. Not thread safe (one requests session)."""

    def __init__(self, options: Options) -> None:
        url = options.url.rstrip("/") + "/"
        public = safe.public_url(options.url)
        if not public.startswith(("http://", "https://")):
            raise UsageError(f"--prometheus.url: not an http(s) URL: {public or '(empty)'}")
        self.url = public
        self._base = url
        self._timeout = options.timeout
        self._session = requests.Session()
        # The environment's proxies apply (trust_env), as for any HTTP client a cron job runs.
        self._session.headers.update({"Accept": "application/json", **options.headers})
        if options.bearer_token_file and (options.username or options.password_file):
            raise UsageError("--prometheus.bearer-token-file and basic auth (--prometheus.username) are exclusive")
        if options.password_file and not options.username:
            raise UsageError("--prometheus.password-file needs --prometheus.username")
        if options.username:
            password = _secret(options.password_file, "--prometheus.password-file") if options.password_file else ""
            self._session.auth = (options.username, password)
        if options.bearer_token_file:
            token = _secret(options.bearer_token_file, "--prometheus.bearer-token-file")
            self._session.headers["Authorization"] = f"Bearer {token}"
        if options.key_file and not options.cert_file:
            raise UsageError("--prometheus.tls.key-file needs --prometheus.tls.cert-file")
        for flag, path in (
            ("--prometheus.tls.ca-file", options.ca_file),
            ("--prometheus.tls.cert-file", options.cert_file),
            ("--prometheus.tls.key-file", options.key_file),
        ):
            if path and not Path(path).is_file():
                raise UsageError(f"{flag}: no such file: {path}")
        if options.cert_file:
            self._session.cert = (options.cert_file, options.key_file) if options.key_file else options.cert_file
        self._verify: bool | str = False if options.insecure_skip_verify else (options.ca_file or True)

    def close(self) -> None:
        self._session.close()

    def instant(self, query: str, at: float) -> list[Series]:
        data = self._call("api/v1/query", {"query": query, "time": _ts(at)}, query)
        return _vector(data, query, self.url)

    def samples(self, selector: str, start: float, end: float) -> list[Series]:
        """Every raw sample of `selector` in (start, end]: an instant query of a range selector, no step to pick."""
        seconds = max(1, math.ceil(end - start))
        query = f"{selector}[{seconds}s]"
        return _matrix(self._call("api/v1/query", {"query": query, "time": _ts(end)}, query), query, self.url)

    def range(self, query: str, start: float, end: float, step: float) -> list[Series]:
        step = max(step, math.ceil((end - start) / (MAX_POINTS - 1)))
        params = {"query": query, "start": _ts(start), "end": _ts(end), "step": f"{step:g}"}
        return _matrix(self._call("api/v1/query_range", params, query), query, self.url)

    def _call(self, path: str, params: dict[str, str], query: str) -> Any:
        what = f"Prometheus at {self.url}"
        try:
            # POST with a form, as Grafana does: long queries do not hit URL length limits.
            response = self._session.post(
                urljoin(self._base, path), data=params, timeout=self._timeout, verify=self._verify
            )
        except requests.exceptions.SSLError:
            raise Unreachable(
                f"{what}: TLS handshake failed (certificate not trusted? see --prometheus.tls.ca-file)", url=self.url
            ) from None
        except requests.Timeout:
            raise Unreachable(f"{what}: no answer within {self._timeout:g}s", url=self.url) from None
        except requests.ConnectionError:
            raise Unreachable(f"{what}: cannot connect", url=self.url) from None
        except requests.RequestException as exc:
            raise Unreachable(f"{what}: {type(exc).__name__}", url=self.url) from None
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            body = None
        if isinstance(body, dict) and body.get("status") == "error":
            kind = safe.repair(str(body.get("errorType", "error")))[:_QUOTE]
            message = safe.repair(str(body.get("error", "")))[:_QUOTE]
            raise PrometheusHTTPError(
                f"{what} refused query {query!r}: HTTP {response.status_code}, {kind}: {message}",
                url=self.url,
                status=response.status_code,
            )
        if response.status_code == 401:
            raise PrometheusHTTPError(
                f"{what}: HTTP 401, credentials refused (see --prometheus.username, --prometheus.bearer-token-file)",
                url=self.url,
                status=401,
            )
        if response.status_code >= 300:
            text = safe.repair(response.text.strip())[:_QUOTE]
            raise PrometheusHTTPError(
                f"{what}: HTTP {response.status_code} for {path}" + (f": {text}" if text else ""),
                url=self.url,
                status=response.status_code,
            )
        if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), dict):
            raise BadAnswer(f"{what}: the answer to {path} is not Prometheus' HTTP API JSON", url=self.url)
        return body["data"]


def _ts(t: float) -> str:
    return f"{t:.3f}"


def _float(value: Any) -> float:
    return float(value)  # Prometheus sends "NaN", "+Inf" as text too: float() reads them


def _labels(item: Any) -> dict[str, str]:
    metric = item.get("metric") if isinstance(item, dict) else None
    if not isinstance(metric, dict):
        raise TypeError("metric")
    return {str(k): str(v) for k, v in metric.items()}


def _vector(data: Any, query: str, url: str) -> list[Series]:
    try:
        if data.get("resultType") != "vector":
            raise TypeError(data.get("resultType"))
        return [
            Series(_labels(item), ((float(item["value"][0]), _float(item["value"][1])),)) for item in data["result"]
        ]
    except (TypeError, KeyError, ValueError, IndexError, AttributeError):
        raise BadAnswer(f"Prometheus at {url}: query {query!r} did not answer an instant vector", url=url) from None


def _matrix(data: Any, query: str, url: str) -> list[Series]:
    try:
        if data.get("resultType") != "matrix":
            raise TypeError(data.get("resultType"))
        return [
            Series(_labels(item), tuple((float(t), _float(v)) for t, v in item["values"])) for item in data["result"]
        ]
    except (TypeError, KeyError, ValueError, IndexError, AttributeError):
        raise BadAnswer(f"Prometheus at {url}: query {query!r} did not answer a range matrix", url=url) from None


__all__ = ["MAX_POINTS", "Options", "Prometheus", "Series"]

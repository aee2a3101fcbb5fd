"""The `report` subcommand: its flags, the order of the work, what it prints, and its exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from exporter.report import data, logo
from exporter.report.errors import EXIT_OK, NoData, OutputError, ReportError, UsageError
from exporter.report.prometheus import Options, Prometheus, Series

log = logging.getLogger("exporter.report")
_NAME = re.compile(r"([^=]+)=(.+)", re.S)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--prometheus.url",
        dest="prometheus_url",
        required=True,
        metavar="URL",
        help="Prometheus (or a Prometheus-compatible API) that scrapes the exporter",
    )
    p.add_argument("--prometheus.username", dest="prometheus_username", metavar="NAME", help="basic auth user")
    p.add_argument(
        "--prometheus.password-file",
        dest="prometheus_password_file",
        metavar="FILE",
        help="basic auth password, read from FILE",
    )
    p.add_argument(
        "--prometheus.bearer-token-file",
        dest="prometheus_bearer_token_file",
        metavar="FILE",
        help="bearer token, read from FILE",
    )
    p.add_argument(
        "--prometheus.tls.ca-file",
        dest="prometheus_ca_file",
        metavar="FILE",
        help="CA certificates to verify Prometheus' certificate with",
    )
    p.add_argument(
        "--prometheus.tls.cert-file", dest="prometheus_cert_file", metavar="FILE", help="client certificate (PEM)"
    )
    p.add_argument(
        "--prometheus.tls.key-file", dest="prometheus_key_file", metavar="FILE", help="client certificate's key (PEM)"
    )
    p.add_argument(
        "--prometheus.tls.insecure-skip-verify",
        dest="prometheus_insecure",
        action="store_true",
        help="do not verify Prometheus' certificate",
    )
    p.add_argument(
        "--prometheus.timeout",
        dest="prometheus_timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="per query (default 60)",
    )
    p.add_argument(
        "--prometheus.selector",
        dest="prometheus_selector",
        default="",
        metavar="MATCHERS",
        help='label matchers added to every query, e.g. job="avepoint",instance="host:9877": one exporter '
        "when several are scraped (default: none)",
    )
    p.add_argument(
        "--month",
        required=True,
        metavar="YYYY-MM",
        help="the calendar month to report, e.g. 2026-11, or previous (the month before the current one)",
    )
    p.add_argument(
        "--customer",
        dest="customers",
        action="append",
        default=[],
        metavar="ID",
        help="report this customer (repeatable; default: every customer with data in the month)",
    )
    p.add_argument(
        "--customer-name",
        dest="customer_names",
        action="append",
        default=[],
        metavar="ID=NAME",
        help="show NAME for customer ID instead of its organization (repeatable)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write the reports to (made if missing)")
    p.add_argument(
        "--timezone",
        default="UTC",
        metavar="ZONE",
        help="IANA time zone of the month's boundaries and every date shown (default UTC)",
    )
    p.add_argument("--msp.name", dest="msp_name", default="", metavar="NAME", help="the MSP's name for the header")
    p.add_argument(
        "--msp.logo",
        dest="msp_logo",
        metavar="FILE",
        help=f"the MSP's logo (PNG, JPEG, GIF or SVG, at most {logo.MAX_BYTES // 1024} KiB), inlined",
    )
    p.add_argument(
        "--pdf",
        choices=("auto", "off"),
        default="auto",
        help="auto: a PDF beside each HTML where Chromium is found (default); off: HTML only",
    )
    p.add_argument("--paper", choices=("a4", "letter"), default="a4", help="the PDF's paper size (default a4)")


@dataclass(frozen=True)
class Written:
    customers: tuple[data.CustomerMonth, ...]
    files: tuple[Path, ...]
    pdf_note: str | None


def _names(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        match = _NAME.fullmatch(pair)
        if not match or not match[1].strip() or not match[2].strip():
            raise UsageError(f"--customer-name: {pair!r} is not ID=NAME")
        out[match[1].strip()] = match[2].strip()
    return out


def _options(args: argparse.Namespace) -> Options:
    if not args.prometheus_timeout > 0:
        raise UsageError("--prometheus.timeout must be a positive number of seconds")
    return Options(
        url=args.prometheus_url,
        username=args.prometheus_username,
        password_file=args.prometheus_password_file,
        bearer_token_file=args.prometheus_bearer_token_file,
        ca_file=args.prometheus_ca_file,
        cert_file=args.prometheus_cert_file,
        key_file=args.prometheus_key_file,
        insecure_skip_verify=args.prometheus_insecure,
        timeout=args.prometheus_timeout,
    )


def _out_dir(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"--out: cannot write to {path}: {exc.strerror or exc}") from None
    return out


def _write(path: Path, body: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(body)
        tmp.replace(path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def generate(args: argparse.Namespace, now: float | None = None) -> Written:
    now = time.time() if now is None else now
    zone = data.parse_zone(args.timezone)
    period = data.parse_month(args.month, zone, now)
    names = _names(args.customer_names)
    matchers = data.parse_selector(args.prometheus_selector) if args.prometheus_selector.strip() else ""
    msp_logo = logo.load(args.msp_logo) if args.msp_logo else None
    try:
        from exporter.report import charts, html  # noqa: PLC0415  # pygal: the `report` extra
    except ImportError as exc:
        raise UsageError(
            f"the report needs the 'report' extra ({exc.name} is missing): "
            "pip install 'avepoint-backup-exporter[report]'"
        ) from None
    from exporter.report import pdf  # noqa: PLC0415

    prom = Prometheus(_options(args))
    out = _out_dir(args.out)
    try:

        def fetch(selector: str, before: float) -> list[Series]:
            return prom.samples(selector, period.start - before, period.end)

        ids = list(dict.fromkeys(args.customers)) or data.customers(fetch, matchers)
        if not ids:
            raise NoData(f"Prometheus at {prom.url} has no avepoint_customer_info samples in {period.month}")
        months = tuple(data.build(fetch, cid, period, names.get(cid), now, matchers=matchers) for cid in ids)
    finally:
        prom.close()
    engine = pdf.find() if args.pdf == "auto" else None
    note = None if engine else pdf.MISSING if args.pdf == "auto" else None
    page = html.Page(msp_name=args.msp_name, logo=msp_logo, paper=args.paper)
    files: list[Path] = []
    for month in months:
        path = out / (html.filename(month.customer_id, period.month) + ".html")
        _write(path, html.customer(month, page, charts.for_customer(month)).encode())
        files.append(path)
    fleet = out / f"fleet-{period.month}.html"
    _write(fleet, html.fleet(months, page).encode())
    files.append(fleet)
    if engine:
        for path in list(files):
            files.append(pdf.render(engine, path, path.with_suffix(".pdf"), args.paper))
    return Written(months, tuple(files), note)


def run(args: argparse.Namespace, out: TextIO) -> int:
    try:
        written = generate(args)
    except ReportError as exc:
        log.error("report failed", extra={"error": str(exc)})
        return exc.exit_code
    except Exception as exc:  # a bug: said in one line with its type, never a traceback as the interface
        log.error("report failed: internal error", extra={"error": type(exc).__name__})
        log.debug("internal error", exc_info=True)
        return 1
    for month in written.customers:
        problems = len(month.modules_with_failures)
        summary = "all backups healthy" if not problems else f"{problems} module(s) with failed runs"
        print(f"{month.customer_id}: {summary}", file=out)
    for path in written.files:
        print(f"wrote {path}", file=out)
    if written.pdf_note:
        print(written.pdf_note, file=out)
    return EXIT_OK


__all__ = ["Written", "add_arguments", "generate", "run"]

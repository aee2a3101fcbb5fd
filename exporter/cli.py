"""The command line: flags, subcommands (serve, `check`, `--demo`), logging set-up and exit codes."""

from __future__ import annotations

import argparse
import io
import logging
import os
import socket
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TextIO

from prometheus_client import disable_created_metrics

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from exporter import __version__, config, logs, memory, safe
from exporter import shard as sharding
from exporter.config import web as webconfig
from exporter.errors import ApiError, ConfigError
from exporter.model import Outcome
from exporter.refresh import Refresher
from exporter.runtime import run
from exporter.upstream import Client
from exporter.web import parse_listen_address

log = logging.getLogger("exporter")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config.file", dest="config_file", metavar="FILE", help="YAML configuration file")
    common.add_argument("--log.level", dest="log_level", choices=logs.LEVELS, default="info")
    common.add_argument("--log.format", dest="log_format", choices=logs.FORMATS, default="logfmt")
    common.add_argument(
        "--demo",
        action="store_true",
        help="start the built-in simulated AvePoint fleet and export it (no account needed)",
    )
    p = argparse.ArgumentParser(
        prog="avepoint-backup-exporter",
        description="Prometheus exporter for AvePoint cloud backup jobs of an MSP's customers.",
        parents=[common],
    )
    p.add_argument("--version", action="version", version=f"avepoint-backup-exporter {__version__}")
    p.add_argument(
        "--web.listen-address",
        dest="listen_address",
        metavar="HOST:PORT",
        help=f"address to serve on (default: web.listen_address of the config, else {config.DEFAULT_LISTEN_ADDRESS})",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="FILE",
        help="exporter-toolkit web config: TLS (tls_server_config), basic auth (basic_auth_users), headers",
    )
    p.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="serve POST /-/reload (off by default, as in Prometheus; SIGHUP reloads either way)",
    )
    p.add_argument(
        "--shard.count",
        dest="shard_count",
        type=int,
        default=1,
        metavar="N",
        help="run as one of N replicas, each exporting the customers whose id hashes to its index",
    )
    p.add_argument(
        "--shard.index",
        dest="shard_index",
        type=int,
        default=None,
        metavar="I",
        help="this replica's index, 0..N-1 (default: the ordinal of a StatefulSet pod name such as name-2)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "check",
        parents=[common],
        help="validate the config, get a token, list customers and show what would be exported",
    )
    return p


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    env = os.environ if env is None else env
    logs.setup(args.log_level, args.log_format)
    # No `*_created` series: they double the exporter's own counters for a start time no dashboard uses.
    disable_created_metrics()  # type: ignore[no-untyped-call]  # the library ships it unannotated
    sim = None
    try:
        if args.demo:
            sim, cfg = _demo(args.config_file, env)
        elif args.config_file:
            cfg = config.load(args.config_file, env)
        else:
            raise ConfigError("--config.file is required (or --demo to try the built-in simulated fleet)")
        web_config_file = args.web_config_file
        security = webconfig.load(web_config_file) if web_config_file else webconfig.WebSecurity()
        if args.command == "check":
            return check(cfg, sys.stdout, env)
        listen = parse_listen_address(args.listen_address or cfg.web.listen_address)
        shard = sharding.resolve(args.shard_index, args.shard_count, env.get("HOSTNAME") or socket.gethostname())
        reload_path = None if args.demo else args.config_file
        return run(
            cfg,
            listen,
            reload_path,
            env,
            shard,
            web_config_file=web_config_file,
            security=security,
            enable_lifecycle=args.enable_lifecycle,
        )
    except ConfigError as exc:
        log.error("invalid configuration", extra={"error": str(exc)})
        return EXIT_USAGE
    finally:
        if sim is not None:
            sim.stop()


def _demo(config_file: str | None, env: Mapping[str, str]) -> tuple[Simulator, config.Config]:
    sim = Simulator(FleetSpec(customers=12, seed=1), client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET)
    sim.start(host="127.0.0.1", port=0)
    base = (
        config.load(config_file, env)
        if config_file
        else config.from_mapping(
            {
                "auth": {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
                "endpoints": {"protected": True, "services": True, "scan_profiles": True},
                # The upstream is the simulator on loopback, not AvePoint: the default 10 requests/s would make
                # the first refresh (with a summary request per scan profile) outlast a first scrape.
                "api": {"max_requests_per_second": 100},
            },
            env=env,
        )
    )
    cfg = replace(
        base,
        api=replace(base.api, base_url=sim.base_url, token_url=sim.token_url),
        auth=replace(
            base.auth,
            client_id=DEMO_CLIENT_ID,
            client_secret=config.Secret(DEMO_CLIENT_SECRET),
            private_key_pem=None,
        ),
        cache=replace(base.cache, ttl=min(base.cache.ttl, 30.0)),
    )
    log.info("demo mode: serving a simulated AvePoint fleet", extra={"api": safe.public_url(sim.base_url)})
    return sim, cfg


def check(cfg: config.Config, out: TextIO, env: Mapping[str, str] | None = None) -> int:
    """Validate end to end without serving: token, customers, jobs; print a short table."""
    if isinstance(out, io.TextIOWrapper):
        # A terminal or pipe whose encoding lacks a character of an organization name (LANG=C, Latin-1)
        # gets a "?" for it, not a traceback instead of the table.
        out.reconfigure(errors="replace")
    memory.return_large_blocks()  # one refresh cycle, as the server runs it
    client = Client(cfg.api, cfg.auth, env=os.environ if env is None else env)
    api = safe.public_url(cfg.api.base_url)
    print(f"config: ok (api {api}, auth {cfg.auth.method}, client id {safe.repair(cfg.auth.client_id)})", file=out)
    try:
        client.token()
        print("token: ok", file=out)
    except ApiError as exc:
        print(f"token: FAILED: {safe.repair(str(exc))}", file=out)
        return EXIT_FAILURE
    refresher = Refresher(replace(cfg, state_file=""), client)
    try:
        trigger = refresher.trigger()
        if trigger is not None:
            trigger.result()
        snap = refresher.snapshot()
    finally:
        refresher.close()
    if not snap.up:
        print(f"customers: FAILED: {safe.repair(str(snap.listing.error))}", file=out)
        return EXIT_FAILURE
    print(f"customers: {len(snap.customers)}", file=out)
    columns = [o.value for o in Outcome]
    header = ["customer_id", "organization", "jobs", *columns, "refresh"]
    rows = [header]
    failed = 0
    for cs in snap.customers:
        counts = Counter(j.outcome.value for j in cs.jobs)
        state = "ok" if cs.attempt.success else f"FAILED: {cs.attempt.error}"
        failed += not cs.attempt.success
        # Repaired once more although the parser did already: an error message quotes upstream text too,
        # and a terminal must never receive a control sequence or a text its encoding cannot take.
        row = [cs.customer.id, cs.customer.organization[:30], str(len(cs.jobs)), *(str(counts[c]) for c in columns)]
        rows.append([safe.repair(v) for v in (*row, state)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[-1], file=out)
    return EXIT_FAILURE if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

"""The command line: flags, the `check` subcommand, logging set-up, wiring, signals and exit codes."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import signal
import socket
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TextIO

from prometheus_client import CollectorRegistry, ProcessCollector, disable_created_metrics

from avepoint_simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator
from exporter import __version__, config, logs, safe
from exporter import shard as sharding
from exporter.config import web as webconfig
from exporter.errors import ApiError, ConfigError
from exporter.exposition import Telemetry
from exporter.model import Outcome
from exporter.refresh import Refresher
from exporter.upstream import Client
from exporter.web import App, Server, parse_listen_address, serve_in_thread

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
            return check(cfg, sys.stdout)
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
                "endpoints": {"protected": True, "services": True},
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


class Runtime:
    """The parts that a config reload replaces, and the ones that survive it."""

    def __init__(
        self,
        cfg: config.Config,
        shard: sharding.Shard,
        security: webconfig.WebSecurity | None = None,
        web_config_file: str | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.telemetry = Telemetry(self.registry, shard)
        ProcessCollector(registry=self.registry)
        self.config = cfg
        self.security = security or webconfig.WebSecurity()
        self.web_config_file = web_config_file
        # Called with the new web settings after a successful reload (the server applies them).
        self.on_web: Callable[[config.WebConfig, webconfig.WebSecurity], None] | None = None
        self.refresher = Refresher(
            cfg,
            self._client(cfg),
            on_parse_error=lambda field: self.telemetry.parse_errors.labels(field).inc(),
            on_state_file=self.telemetry.state_file,
            owns=shard.owns,
        )
        self._reload_lock = threading.Lock()

    def _client(self, cfg: config.Config) -> Client:
        return Client(cfg.api, cfg.auth, observe=self.telemetry.observe_request)

    def reload(self, path: str, env: Mapping[str, str]) -> None:
        """Load the file again; on any error raise ConfigError and keep everything as it was."""
        with self._reload_lock:
            try:
                new = config.load(path, env)
                # The web config goes with the rest: both files are good, or nothing changes.
                security = webconfig.load(self.web_config_file) if self.web_config_file else webconfig.WebSecurity()
            except ConfigError as exc:
                self.telemetry.config_reload(False)
                log.error("reload failed, old config kept", extra={"error": str(exc)})
                raise
            if new.web.listen_address != self.config.web.listen_address:
                log.warning("web.listen_address changes take effect after a restart")
            # A client (and its token) only for new api or auth settings; the refresher keeps the data
            # the change does not affect, so a reload with nothing changed costs no upstream request.
            changed = (new.api, new.auth) != (self.config.api, self.config.auth)
            self.refresher.reconfigure(new, self._client(new) if changed else None)
            self.config, self.security = new, security
            if self.on_web is not None:
                self.on_web(new.web, security)
            self.telemetry.config_reload(True)
            log.info("config reloaded")


def run(
    cfg: config.Config,
    listen: tuple[str, int],
    reload_path: str | None,
    env: Mapping[str, str],
    shard: sharding.Shard | None = None,
    *,
    web_config_file: str | None = None,
    security: webconfig.WebSecurity | None = None,
    enable_lifecycle: bool = False,
) -> int:
    shard = shard or sharding.Shard()
    runtime = Runtime(cfg, shard, security, web_config_file)
    reload = (lambda: runtime.reload(reload_path, env)) if reload_path else None
    app = App(
        lambda: runtime.refresher,
        runtime.registry,
        runtime.telemetry,
        reload=reload,
        lifecycle=enable_lifecycle,
        shard=shard,
    )
    runtime.refresher.after_cycle(app.prerender)
    try:
        server = Server(listen, app, cfg.web, runtime.security)
    except OSError as exc:
        log.error("cannot listen", extra={"address": f"{listen[0]}:{listen[1]}", "error": exc.strerror})
        return EXIT_FAILURE
    runtime.on_web = server.configure
    stop = threading.Event()
    reload_requested = threading.Event()

    def on_stop(signum: int, frame: object) -> None:
        stop.set()

    def on_hup(signum: int, frame: object) -> None:
        reload_requested.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    if reload is not None:
        signal.signal(signal.SIGHUP, on_hup)
    serve_in_thread(server)
    log.info(
        "listening",
        extra={
            "address": server.url,
            "version": __version__,
            "auth": cfg.auth.method,
            # Never the URL as configured: user info or a query string may carry credentials.
            "api": safe.public_url(cfg.api.base_url),
            "token_url": safe.public_url(cfg.api.token_url),
            "shard": f"{shard.index}/{shard.count}",
            "tls": server.tls,
            "basic_auth": runtime.security.auth_required,
        },
    )
    runtime.refresher.trigger()  # warm the cache so the first scrape is quick
    while not stop.wait(0.2):
        if reload_requested.is_set() and reload is not None:
            reload_requested.clear()
            with contextlib.suppress(ConfigError):  # logged by reload(); the old config stays
                reload()
    log.info("shutting down")
    server.shutdown()
    server.server_close()
    runtime.refresher.close()
    return EXIT_OK


def check(cfg: config.Config, out: TextIO) -> int:
    """Validate end to end without serving: token, customers, jobs; print a short table."""
    if isinstance(out, io.TextIOWrapper):
        # A terminal or pipe whose encoding lacks a character of an organization name (LANG=C, Latin-1)
        # gets a "?" for it, not a traceback instead of the table.
        out.reconfigure(errors="replace")
    client = Client(cfg.api, cfg.auth)
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

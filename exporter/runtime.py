"""Wiring: the registry, the refresher and the server built from a config; reload, signals, the serve loop."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector

from exporter import __version__, config, memory, safe
from exporter import shard as sharding
from exporter.config import web as webconfig
from exporter.errors import ConfigError
from exporter.exposition import Telemetry
from exporter.refresh import Refresher
from exporter.upstream import Client
from exporter.web import App, Server, serve_in_thread

log = logging.getLogger("exporter")

EXIT_OK, EXIT_FAILURE = 0, 1


class Runtime:
    """The parts that a config reload replaces, and the ones that survive it."""

    def __init__(
        self,
        cfg: config.Config,
        shard: sharding.Shard,
        security: webconfig.WebSecurity | None = None,
        web_config_file: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        # The environment the command line was given: proxies and the CA bundle come from it, reloads included.
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.registry = CollectorRegistry(auto_describe=True)
        self.telemetry = Telemetry(self.registry, shard)
        ProcessCollector(registry=self.telemetry.per_scrape)  # read from /proc on every scrape
        self.config = cfg
        self.security = security or webconfig.WebSecurity()
        self.web_config_file = web_config_file
        # Called with the new web settings after a successful reload (the server applies them).
        self.on_web: Callable[[config.WebConfig, webconfig.WebSecurity], None] | None = None
        self.refresher = Refresher(
            cfg,
            self._client(cfg),
            on_parse_error=self.telemetry.parse_error,
            on_state_file=self.telemetry.state_file,
            owns=shard.owns,
        )
        self._reload_lock = threading.Lock()

    def _client(self, cfg: config.Config) -> Client:
        return Client(cfg.api, cfg.auth, env=self.env, observe=self.telemetry.observe_request)

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
    memory.return_large_blocks()  # the Gate bounds what answers cost at once only if freed memory really goes
    runtime = Runtime(cfg, shard, security, web_config_file, env)
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

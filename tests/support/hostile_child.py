"""A refresher in a process of its own, so a hostile answer's peak memory can be read apart from the tests'.

`python -m tests.support.hostile_child CONFIG_JSON [AS_LIMIT_MIB]` builds the Refresher and Client as the exporter
does from the config mapping given as JSON, runs one refresh cycle (the warm-up: good data), prints
`warm`, waits for a line on stdin (the parent then breaks the upstream), runs a second cycle and prints
one JSON line: the outcome of every customer and of the listing, the WARNING lines logged, the second
cycle's seconds and the process's peak resident size (VmHWM, KiB; not ru_maxrss, which Linux carries
over exec from the forking parent, so it would report the test runner's peak). AS_LIMIT_MIB caps the address
space: the code as it was would take the machine's memory, so a test of it fails with MemoryError instead.
Only what the exporter had before these bounds is used here, so the same child measures the old code.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from pathlib import Path

from exporter import config, memory
from exporter.refresh import Refresher
from exporter.upstream import Client


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = ("customer_id", "endpoint", "error", "error_class")
        self.lines.append({"message": record.getMessage(), **{f: getattr(record, f, None) for f in fields}})


def peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: the best there is


def main() -> None:
    if len(sys.argv) > 2:
        limit = int(sys.argv[2]) * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    cfg = config.from_mapping(json.loads(sys.argv[1]))
    clock = Clock()
    memory.return_large_blocks()  # as exporter.runtime.run does
    client = Client(cfg.api, cfg.auth, sleep=lambda seconds: None)
    refresher = Refresher(cfg, client, clock=clock)
    handler = Lines()
    logging.getLogger().addHandler(handler)
    for phase in ("warm", "attack"):
        clock.now += cfg.cache.ttl + 1
        started = time.monotonic()
        cycle = refresher.trigger()
        assert cycle is not None
        cycle.result(timeout=600)
        seconds = time.monotonic() - started
        if phase == "warm":
            print("warm", flush=True)
            sys.stdin.readline()
            handler.lines.clear()
    snap = refresher.snapshot()
    report = {
        "up": snap.up,
        "listing_error": None if snap.listing.error is None else str(snap.listing.error),
        "customers": {
            cs.customer.id: {"success": cs.attempt.success, "error": str(cs.attempt.error or ""), "jobs": len(cs.jobs)}
            for cs in snap.customers
        },
        "warnings": handler.lines,
        "seconds": round(seconds, 2),
        "peak_kib": peak_kib(),
    }
    print(json.dumps(report), flush=True)
    refresher.close()


if __name__ == "__main__":
    main()

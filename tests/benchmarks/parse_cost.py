"""Parse cost per API row (jobs, customers, services) of the worktree's parser, optionally beside a git ref's.

    .venv/bin/python -m tests.benchmarks.parse_cost                  # this tree's parser (upstream values, rows)
    .venv/bin/python -m tests.benchmarks.parse_cost --against HEAD~3 # and that commit's, interleaved

The refresher parses every row of every customer each cycle, so this is its CPU cost per job apart from
the upstream's latency (which the full benchmark's cold section is dominated by). Both parsers run
interleaved in one process on the same simulator rows, and the best of many runs counts: on a shared
machine the ratio is the figure to trust.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from avepoint_simulator import FleetSpec, Simulator
from exporter.upstream import parse


def _show(ref: str, path: str) -> str | None:
    done = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else None


def parser_at(ref: str) -> ModuleType:
    """The parser as of `ref`, imported as a module of its own: exporter/parse.py before the layer
    packages, exporter/upstream/{values,rows}.py (joined, rows' import of values dropped) after them."""
    source = _show(ref, "exporter/parse.py") or _show(ref, "exporter/upstream/parse.py")
    if source is None or "from exporter.upstream.rows import" in source:
        values, rows = _show(ref, "exporter/upstream/values.py"), _show(ref, "exporter/upstream/rows.py")
        if values is None or rows is None:
            raise SystemExit(f"no parser found at {ref}")
        rows = re.sub(
            r"^from exporter\.upstream\.values import \([^)]*\)\n|^from exporter\.upstream\.values import .*\n",
            "",
            rows,
            flags=re.M,
        )
        source = values + "\n" + rows.replace("from __future__ import annotations\n", "")
    path = Path(tempfile.mkdtemp()) / "parse_at_ref.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("parse_at_ref", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--against", metavar="REF", help="also time the parser of this git ref")
    p.add_argument("--customers", type=int, default=300)
    p.add_argument("--runs", type=int, default=15)
    args = p.parse_args(argv)
    sim = Simulator(FleetSpec(customers=args.customers, seed=3))
    cases: dict[str, tuple[list[Any], str]] = {
        "job": ([row for cid in sim.customer_ids for row in sim.jobs(cid)], "job"),
        "customer": (sim.customers * 10, "customer"),
        "subscriptions": (sim.services(), "subscriptions"),
    }
    parsers: dict[str, ModuleType] = {"this tree": parse}
    if args.against:
        parsers = {args.against: parser_at(args.against), **parsers}
    best = {(name, case): float("inf") for name in parsers for case in cases}
    for _ in range(args.runs):
        for name, module in parsers.items():
            for case, (rows, function) in cases.items():
                fn = getattr(module, function)
                started = time.perf_counter()
                for row in rows:
                    fn(row)
                best[name, case] = min(best[name, case], (time.perf_counter() - started) / len(rows))
    for case, (rows, _) in cases.items():
        figures = "  ".join(f"{name} {best[name, case] * 1e6:6.2f} us/row" for name in parsers)
        line = f"{case:14s} {len(rows):5d} rows  {figures}"
        if args.against:
            ratio = best["this tree", case] / best[args.against, case]
            line += f"  ({(ratio - 1) * 100:+.1f}%)"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

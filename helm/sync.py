"""Copies the repository's alert rules and dashboards into the Helm chart, or checks that the copies match.

The repository's alerts/avepoint-backup.rules.yml and dashboards/*.json are the source of truth; Helm can
only read files inside the chart, so the chart keeps copies under files/. Run after changing either:

    python3 helm/sync.py           # copy
    python3 helm/sync.py --check   # exit 1 and list the differences if a copy is stale
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHART_FILES = ROOT / "helm" / "avepoint-backup-exporter" / "files"
RULES = ROOT / "alerts" / "avepoint-backup.rules.yml"
DASHBOARDS = ROOT / "dashboards"


def pairs() -> tuple[list[tuple[Path, Path]], list[Path], list[str]]:
    """(source, copy) pairs to keep equal, copies without a source, and sources that do not exist yet."""
    wanted: list[tuple[Path, Path]] = []
    stale: list[Path] = []
    missing: list[str] = []
    if RULES.is_file():
        wanted.append((RULES, CHART_FILES / RULES.name))
    else:
        missing.append(str(RULES.relative_to(ROOT)))
    if DASHBOARDS.is_dir():
        sources = sorted(DASHBOARDS.glob("*.json"))
        wanted.extend((src, CHART_FILES / "dashboards" / src.name) for src in sources)
        names = {src.name for src in sources}
        stale.extend(p for p in sorted((CHART_FILES / "dashboards").glob("*.json")) if p.name not in names)
    else:
        missing.append(str(DASHBOARDS.relative_to(ROOT)) + "/")
    return wanted, stale, missing


def differences() -> list[str]:
    wanted, stale, _ = pairs()
    out = []
    for src, copy in wanted:
        if not copy.is_file():
            out.append(f"{copy.relative_to(ROOT)} is missing (a copy of {src.relative_to(ROOT)})")
        elif copy.read_bytes() != src.read_bytes():
            out.append(f"{copy.relative_to(ROOT)} differs from {src.relative_to(ROOT)}")
    out.extend(f"{copy.relative_to(ROOT)} has no source in dashboards/" for copy in stale)
    return out


def sync() -> list[str]:
    wanted, stale, _ = pairs()
    done = []
    for src, copy in wanted:
        if not copy.is_file() or copy.read_bytes() != src.read_bytes():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, copy)
            done.append(f"copied {src.relative_to(ROOT)} -> {copy.relative_to(ROOT)}")
    for copy in stale:
        copy.unlink()
        done.append(f"removed {copy.relative_to(ROOT)}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a copy is stale")
    args = parser.parse_args(argv)
    for name in pairs()[2]:
        print(f"note: {name} does not exist (yet); nothing to copy from it")
    if args.check:
        diffs = differences()
        for line in diffs:
            print(line)
        if diffs:
            print("run: python3 helm/sync.py")
        return 1 if diffs else 0
    for line in sync():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

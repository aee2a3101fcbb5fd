"""The README's picture of a report page, made from the current code.

    .venv/bin/python -m tests.report_picture docs/report-page.png

generates the report tests' month (tests/support/month.py: the real refresher and encoder over a simulated
month), backfills it into a throwaway Prometheus with promtool, runs `avepoint-backup-exporter report` against
it (PDF through Debian's chromium) for the customer measured all month, and turns the first page of its PDF
into a PNG with poppler's pdftoppm.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support import free_port
from tests.support.harness import SCRIPT, start_prometheus, stop_processes
from tests.support.month import create_blocks, generate


def main(target: str) -> int:
    with tempfile.TemporaryDirectory(prefix="report-picture-") as name:
        tmp = Path(name)
        month = generate(tmp / "month.om")
        create_blocks(month.path, tmp / "prom-data")
        customer = next(iter(month.customers.values()))
        procs: list[subprocess.Popen[bytes]] = []
        out = tmp / "out"
        try:
            url = start_prometheus(tmp, {"global": {}}, free_port(), procs, ("--storage.tsdb.retention.time=1y",))
            subprocess.run(
                [SCRIPT, "report", f"--prometheus.url={url}", f"--month={month.plan.month}",
                 f"--out={out}", f"--customer={customer.id}", "--msp.name=Contoso Managed IT"],
                check=True,
            )  # fmt: skip
        finally:
            stop_processes(procs, tmp)
        subprocess.run(
            ["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", "-singlefile",
             str(out / f"report-{customer.id}-{month.plan.month}.pdf"), str(tmp / "page")],
            check=True,
        )  # fmt: skip
        shutil.copyfile(tmp / "page.png", target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/report-page.png"))

"""The README's picture of a report page, made from the current code.

    .venv/bin/python -m tests.report_picture docs/report-page.png

writes the month fixture of the report tests (tests/support/report_month.py: the exporter's renderer over a
scripted month), backfills it into a throwaway Prometheus with promtool, runs `avepoint-backup-exporter
report` against it (PDF through Debian's chromium) and turns the first page of customer c-alpha's PDF into
a PNG with poppler's pdftoppm.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tests.support import free_port
from tests.support.harness import SCRIPT, run_process, wait_for
from tests.support.report_month import backfill, write


def main(target: str) -> int:
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 2
    month = f"{index // 12}-{index % 12 + 1:02d}"
    with tempfile.TemporaryDirectory(prefix="report-picture-") as name:
        tmp = Path(name)
        write(tmp / "month.om", month)
        backfill(tmp / "month.om", tmp / "data")
        (tmp / "prometheus.yml").write_text("global: {}\n")
        port = free_port()
        prometheus = run_process(
            [
                "prometheus",
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            tmp / "prometheus.log",
        )
        try:
            wait_for(f"http://127.0.0.1:{port}/-/ready", prometheus, seconds=30)
            out = tmp / "out"
            subprocess.run(
                [SCRIPT, "report", f"--prometheus.url=http://127.0.0.1:{port}", f"--month={month}",
                 f"--out={out}", "--customer=c-alpha", "--msp.name=Contoso Managed IT"],
                check=True,
            )  # fmt: skip
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=10)
        subprocess.run(
            ["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", "-singlefile",
             str(out / f"report-c-alpha-{month}.pdf"), str(tmp / "page")],
            check=True,
        )  # fmt: skip
        shutil.copyfile(tmp / "page.png", target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/report-page.png"))

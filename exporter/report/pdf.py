"""PDF from the report's HTML with Debian's headless Chromium (`--print-to-pdf`), where it is installed.

Chromium over a Python HTML-to-PDF library: the exporter's tests install it already (status page tests),
it prints the page exactly as a browser does (the print stylesheet is the one a person printing gets), and
WeasyPrint would add Pango (a native library) and Pillow, fontTools and several more Python packages to every
install of the report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from exporter.report.errors import OutputError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MISSING = "PDF: no Chromium found (apt-get install chromium, or set CHROMIUM=/path): wrote HTML only"
TIMEOUT = 120.0


def find() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if shutil.which(explicit) else None
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


PAPER = {"a4": "A4", "letter": "letter"}


def render(engine: str, html: Path, pdf: Path, paper: str = "a4") -> Path:
    """Print `html` to `pdf` on `paper`; the page is self-contained, so Chromium needs no network (and gets none).

    The HTML file itself names no paper size (a person printing it picks theirs); the copy printed here
    does, since Chromium's --print-to-pdf follows the page's @page size.
    """
    with tempfile.TemporaryDirectory(prefix="avepoint-report-") as profile:
        printed = Path(profile) / "print.html"
        text = html.read_text()
        printed.write_text(text.replace("</style>", f"@page {{ size: {PAPER[paper]}; }}</style>", 1))
        command = [
            engine,
            "--headless",
            "--no-sandbox",  # runs as the cron job's user, often root in a container
            "--disable-gpu",
            "--no-pdf-header-footer",
            "--proxy-server=127.0.0.1:9",  # nothing to fetch: anything that tries fails at once
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf}",
            printed.as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OutputError(f"PDF: {engine} failed for {html.name}: {exc}") from None
    if done.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        tail = done.stderr.strip().splitlines()[-1:] if done.stderr else []
        raise OutputError(f"PDF: {engine} exited {done.returncode} for {html.name}" + (f": {tail[0]}" if tail else ""))
    return pdf


__all__ = ["CANDIDATES", "MISSING", "find", "render"]

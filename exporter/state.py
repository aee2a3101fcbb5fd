"""The state file: last-success times of jobs, kept across restarts, written atomically."""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

JobKey = tuple[str, str, str]  # customer id, job type, job module
FORMAT_VERSION = 1


def load(path: str) -> dict[JobKey, float]:
    """Read last-success times; a missing file is empty, a corrupt one is reported and ignored."""
    if not path:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        log.warning("cannot read state file, starting without it", extra={"path": path, "error": exc.strerror})
        return {}
    try:
        data = json.loads(text)
        entries = data["last_success"] if data.get("version") == FORMAT_VERSION else None
        if not isinstance(entries, list):
            raise ValueError("no last_success list")
        out: dict[JobKey, float] = {}
        for entry in entries:
            key = (entry["customer_id"], entry["job_type"], entry["job_module"])
            value = entry["timestamp"]
            if all(isinstance(k, str) for k in key) and isinstance(value, int | float) and math.isfinite(value):
                out[key] = float(value)
        return out
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("state file is corrupt, starting without it", extra={"path": path, "error": str(exc)[:100]})
        return {}


def save(path: str, last_success: Mapping[JobKey, float]) -> bool:
    """Write atomically (temp file, fsync, rename) so a crash never leaves half a file. False on failure."""
    if not path:
        return True
    entries = [
        {"customer_id": c, "job_type": t, "job_module": m, "timestamp": ts}
        for (c, t, m), ts in sorted(last_success.items())
    ]
    body = json.dumps({"version": FORMAT_VERSION, "last_success": entries}, indent=0)
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=target.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("cannot write state file", extra={"path": path, "error": exc.strerror or str(exc)})
        return False
    return True

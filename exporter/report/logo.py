"""The MSP's logo: a small image file, checked by its bytes and inlined as a data URI."""

from __future__ import annotations

import base64
from pathlib import Path

from exporter.report.errors import UsageError

MAX_BYTES = 256 * 1024
# Types by their magic bytes, never by the file name: the page says what the bytes are.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def load(path: str) -> str:
    """The logo as a data URI. An SVG in an <img> runs no script, so inlining one is safe."""
    try:
        body = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"--msp.logo: cannot read {path}: {exc.strerror}") from None
    if len(body) > MAX_BYTES:
        raise UsageError(f"--msp.logo: {path} is {len(body) // 1024} KiB, more than {MAX_BYTES // 1024} KiB")
    kind = next((mime for magic, mime in _MAGIC if body.startswith(magic)), None)
    if kind is None:
        head = body[:512].lstrip().lower()
        if head.startswith((b"<?xml", b"<svg")) and b"<svg" in body[:4096].lower():
            kind = "image/svg+xml"
    if kind is None:
        raise UsageError(f"--msp.logo: {path} is not a PNG, JPEG, GIF or SVG image")
    return f"data:{kind};base64,{base64.b64encode(body).decode()}"


__all__ = ["MAX_BYTES", "load"]

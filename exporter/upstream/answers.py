"""What an answer says: the JSON of a 2xx body, or the typed error of any other status, with its ids."""

from __future__ import annotations

import json
import re
from typing import Any

from exporter.errors import AuthError, HTTPStatusError, ResponseFormatError
from exporter.upstream.routes import EP_TOKEN

_NON_SPACE = re.compile(rb"[^ \t\r\n\x0b\x0c]")  # what bytes.strip() strips, without copying the body


def shape(body: object) -> str:
    if isinstance(body, dict):
        keys = ", ".join(sorted(map(str, body))[:5])
        return f"an object with keys [{keys}]"
    names: dict[type, str] = {list: "a list", str: "a string"}
    return names.get(type(body), type(body).__name__)


def decode_json(body: bytearray, endpoint: str, request_id: str | None) -> Any:
    """The JSON of a 2xx body. Empties `body` once decoded to text: json.loads then builds its objects
    beside one copy of the answer, not two."""
    first = _NON_SPACE.search(body)
    if first is None:
        raise ResponseFormatError("empty response body", endpoint=endpoint, request_id=request_id)
    if first.group() == b"<":
        raise ResponseFormatError(
            "HTML instead of JSON (a proxy or error page?)", endpoint=endpoint, request_id=request_id
        )
    try:
        # What json.loads does with bytes, done here so the bytes can go before the objects come.
        text = body.decode(json.detect_encoding(body), "surrogatepass")
        body.clear()
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ResponseFormatError(
            f"invalid or truncated JSON ({exc.__class__.__name__} at byte {getattr(exc, 'pos', '?')})",
            endpoint=endpoint,
            request_id=request_id,
        ) from None


def status_error(endpoint: str, status: int, body: bytes | bytearray, request_id: str | None) -> HTTPStatusError:
    detail = _error_detail(body)
    body_request_id, trace_id = error_ids(body)
    request_id = request_id or body_request_id
    if endpoint == EP_TOKEN and status in (400, 401):
        hint = (
            "the token endpoint refused the credentials"
            + (f" ({detail})" if detail else "")
            + ": check auth.client_id, the client secret or certificate, and auth.scopes"
        )
        return AuthError(hint, endpoint=endpoint, status=status, request_id=request_id, trace_id=trace_id)
    if status in (401, 403):
        what = "token refused" if status == 401 else "forbidden: the app registration lacks a scope or customer"
        return AuthError(
            f"HTTP {status}, {what}" + (f" ({detail})" if detail else ""),
            endpoint=endpoint,
            status=status,
            request_id=request_id,
            trace_id=trace_id,
        )
    return HTTPStatusError(
        f"HTTP {status}" + (f" ({detail})" if detail else ""),
        endpoint=endpoint,
        status=status,
        request_id=request_id,
        trace_id=trace_id,
    )


_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def error_ids(body: bytes | bytearray) -> tuple[str | None, str | None]:
    """`requestId` and `traceId` of an AvePoint error body, `{statusCode, message, errors, requestId,
    timestamp, traceId}` (or `{traceId, error, statusCode}`), see /work/shared/avepoint-api.md.

    Only id-shaped strings are kept: the body is the upstream's, and these go into log lines.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    found: list[str | None] = []
    for key in ("requestId", "traceId"):
        value = data.get(key)
        found.append(value if isinstance(value, str) and _SAFE_ID.fullmatch(value) else None)
    return found[0], found[1]


def _error_detail(body: bytes | bytearray) -> str:
    """A short, safe summary of an error body: the `error` / `message` of a JSON body, else nothing."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    if not isinstance(data, dict):
        return ""
    for key in ("error", "message", "error_description"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value[:120].replace("\n", " ")
    return ""

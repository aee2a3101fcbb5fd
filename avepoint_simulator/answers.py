"""What an answer is: status, body and headers; JSON as the API encodes it, its error bodies, a proxy's pages."""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Final

from avepoint_simulator.rows import iso

if TYPE_CHECKING:
    from avepoint_simulator.faults import Faults


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: object) -> bytes:
    return _encode_json(value).encode("utf-8")


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


def ok(body: bytes, faults: Faults) -> Response:
    """A 200 answer of a data route, or what the html_ok and truncated faults make of it."""
    content_type = "application/json; charset=utf-8"
    if faults.html_ok:
        body, content_type = _HTML_OK_PAGE, "text/html; charset=utf-8"
    if faults.truncated:
        body = body[: len(body) // 2]
    return Response(200, body, content_type)


def error_response(
    request_id: str,
    status: int,
    message: str,
    faults: Faults,
    *headers: tuple[str, str],
) -> Response:
    """An error in the shape AvePoint documents for its APIs; the body repeats the request id.

    `{statusCode, message, errors[{code, field, message}], requestId, timestamp, traceId}`
    (see /work/shared/avepoint-api.md "Error bodies"); the partner pages document none of their own.
    """
    if faults.html_errors:
        return Response(status, _html_error_page(status), "text/html", headers)
    body = {
        "statusCode": status,
        "message": message,
        "errors": [],
        "requestId": request_id,
        "timestamp": iso(time.time()),
        "traceId": request_id.replace("-", ""),
    }
    return Response(status, dumps(body), headers=headers)


def oauth_error(status: int, code: str, faults: Faults, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """An error of the token endpoint, shaped as OAuth 2.0 says (RFC 6749 section 5.2)."""
    if faults.html_errors:
        return Response(status, _html_error_page(status), "text/html", headers)
    return Response(status, dumps({"error": code}), headers=headers)


def _html_error_page(status: int) -> bytes:
    title = html.escape(f"{status} {phrase(status)}")
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


# What a captive portal or a misrouted ingress answers with 200.
_HTML_OK_PAGE: Final = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in to your account</title></head>"
    b'<body><form method="post" action="/login"><input name="username">'
    b"</form></body></html>\n"
)

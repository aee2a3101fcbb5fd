"""The one exception hierarchy of the exporter: configuration errors and upstream API errors.

    ExporterError
    ├── ConfigError
    └── ApiError                    (.endpoint, .request_id, .trace_id, .no_token)
        ├── TransportError          no HTTP response
        │   └── UpstreamTimeout
        ├── HTTPStatusError         (.status)
        │   └── AuthError           credentials or token refused, forbidden
        └── ResponseFormatError     2xx, but not the JSON expected
            └── LimitExceeded       bigger than a configured bound

The class name is what logs and the status page show (`error_class`): keep the names.
"""

from __future__ import annotations


class ExporterError(Exception):
    """Base of every error this package raises on purpose. Messages never contain secrets."""


class ConfigError(ExporterError):
    """The configuration (file, environment, secret files) is invalid; the message names the key."""


class ApiError(ExporterError):
    """A call to the AvePoint API failed; `endpoint` is the route template, never a full URL with ids.

    `request_id` is the response's request id header (or, without one, the error body's
    `requestId`); `trace_id` the error body's `traceId`: what AvePoint support asks for.
    `no_token` is set where the access token is fetched (upstream.auth): the error is the token's,
    so every other request of the cycle would fail alike.
    """

    def __init__(
        self, message: str, *, endpoint: str, request_id: str | None = None, trace_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.request_id = request_id
        self.trace_id = trace_id
        self.no_token = False

    @property
    def message(self) -> str:
        """The message without the ids that `str()` appends."""
        return super().__str__()

    def __str__(self) -> str:
        text = self.message
        ids = [f"request id {self.request_id}"] if self.request_id else []
        ids += [f"trace id {self.trace_id}"] if self.trace_id else []
        return f"{text} ({', '.join(ids)})" if ids else text


class TransportError(ApiError):
    """No HTTP response: connection refused or reset, name resolution, TLS handshake."""


class UpstreamTimeout(TransportError):
    """The upstream did not answer within the request timeout."""


class HTTPStatusError(ApiError):
    """The upstream answered with a status code that is not success."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status: int,
        request_id: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, request_id=request_id, trace_id=trace_id)
        self.status = status


class AuthError(HTTPStatusError):
    """The token endpoint refused the credentials, or the API refused the token (401/403)."""


class ResponseFormatError(ApiError):
    """The upstream answered 2xx but the body is not the JSON we expect: HTML, truncated, wrong shape."""


class LimitExceeded(ResponseFormatError):
    """The answer is bigger than a configured bound (bytes, JSON values, pages, paging time, job rows).

    The message names the bound's config key: raising it is the fix when the fleet really is that big.
    """

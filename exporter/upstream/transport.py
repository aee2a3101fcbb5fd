"""The HTTP machinery: session, rate limit, concurrency cap, attempts, retries with backoff, bounded body reads.

Every requests and urllib3 exception becomes one of ours in one place, `map_exceptions`; the
hierarchy is drawn in exporter/errors.py.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import urllib3

from exporter import __version__
from exporter.config import ApiConfig
from exporter.errors import LimitExceeded, TransportError, UpstreamTimeout
from exporter.upstream.answers import decode_json, status_error
from exporter.upstream.environment import ca_bundle, proxies_for
from exporter.upstream.limits import BIG_ANSWER, Budget, Gate, RateLimiter

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REQUEST_ID_HEADERS = ("request-id", "x-request-id", "x-correlation-id", "x-ms-request-id", "traceparent")
BACKOFF_BASE = 0.5
# What one read asks of urllib3: it decodes at most this much per call, so a gzip bomb is stopped at a
# limit plus one chunk, never inflated whole.
CHUNK = 64 * 1024

Observer = Callable[[str, str, float], None]


class Authorizer(Protocol):
    """What the transport asks of an authentication (see auth.TokenAuth): a header, and news of a 401."""

    def authorization(self) -> str:
        """The Authorization header for the next attempt."""

    def refused(self, authorization: str) -> None:
        """The upstream answered 401 to `authorization`: forget it, the next one must be new."""


class Transport:
    """Sends one logical request: every attempt rate limited, capped, counted and timed; retries; a bounded body.

    Retries are written out here rather than delegated to urllib3's `Retry`: every attempt must pass
    the rate limiter and concurrency cap, be counted in `avepoint_api_requests_total`, renew the token
    once on a 401, and cap a server's `Retry-After` so one refresh always ends in bounded time.
    """

    def __init__(
        self,
        api: ApiConfig,
        *,
        env: Mapping[str, str],
        observe: Observer | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._api = api
        self._observe = observe or (lambda endpoint, code, seconds: None)
        self._clock, self._wall, self._sleep = clock, wall_clock, sleep
        self._rng = rng or random.Random()
        self._limiter = RateLimiter(api.max_requests_per_second, clock, sleep)
        self._slots = threading.BoundedSemaphore(api.max_concurrency)
        self._gate = Gate(clock)
        self._session = session or requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=api.max_concurrency, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = f"avepoint-backup-exporter/{__version__}"
        # The environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE) is read once, here, from the mapping
        # the command line passes: with trust_env requests would reread os.environ on every request, over
        # half a millisecond each in a busy refresh.
        self._session.trust_env = False
        self._proxies = {urlsplit(url)[:2]: proxies_for(url, env) for url in (api.base_url.rstrip("/"), api.token_url)}
        self._verify = ca_bundle(api.ca_file, env)

    def close(self) -> None:
        self._session.close()

    def budget(self, endpoint: str) -> Budget:
        """A fresh budget for one logical request (all its pages together)."""
        return Budget(self._api, endpoint, self._clock)

    def call(
        self,
        endpoint: str,
        method: str,
        url: str,
        budget: Budget,
        *,
        data: dict[str, str] | None = None,
        json_body: object = None,
        auth: Authorizer | None = None,
    ) -> Any:
        """One logical request: retries, backoff and one token renewal on 401. Returns parsed JSON.

        POSTs of v3 batch routes are reads, so they are retried exactly like GETs.
        """
        renewed = False
        attempt = 0
        while True:
            headers = {"Accept": "application/json"}
            authorization = None
            if auth is not None:
                authorization = auth.authorization()
                headers["Authorization"] = authorization
            failure: TransportError | None = None
            # The turn of a big answer ends with this block: never held through a backoff sleep.
            with self._gate.turn() as wait_turn:
                try:
                    status, body, request_id, retry_after = self._attempt(
                        endpoint, method, url, headers, data, budget=budget, json_body=json_body, wait_turn=wait_turn
                    )
                except TransportError as exc:
                    failure = exc
                else:
                    if 200 <= status < 300:
                        budget.charge(body, request_id)
                        return decode_json(body, endpoint, request_id)
            if failure is not None:
                if attempt >= self._api.retries:
                    raise failure
                log.debug("retrying after transport error", extra={"endpoint": endpoint, "error": str(failure)})
                self._backoff(attempt, None)
                attempt += 1
                continue
            if status == 401 and auth is not None and authorization is not None and not renewed:
                # Tokens can be revoked or expire early; one fresh token, then a 401 is final.
                auth.refused(authorization)
                renewed = True
                continue
            if status in RETRY_STATUSES and attempt < self._api.retries:
                self._backoff(attempt, retry_after)
                attempt += 1
                continue
            raise status_error(endpoint, status, body, request_id)

    def _attempt(
        self,
        endpoint: str,
        method: str,
        url: str,
        headers: dict[str, str],
        data: dict[str, str] | None,
        *,
        budget: Budget,
        json_body: object = None,
        wait_turn: Callable[[], float] = lambda: 0.0,
    ) -> tuple[int, bytearray, str | None, str | None]:
        self._limiter.acquire()
        with self._slots, self._timed(endpoint) as outcome:
            with map_exceptions(endpoint):
                response = self._session.request(
                    method,
                    url,
                    headers=headers,
                    data=data,
                    json=json_body,
                    timeout=self._api.timeout,
                    stream=True,
                    allow_redirects=False,
                    verify=self._verify,
                    proxies=self._proxies.get(urlsplit(url)[:2], {}),
                )
            with response:
                outcome[0] = str(response.status_code)
                request_id = next((response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), None)
                body = self._read(response, endpoint, request_id, budget.decoded_left, wait_turn)
                return response.status_code, body, request_id, response.headers.get("Retry-After")

    def _read(
        self,
        response: requests.Response,
        endpoint: str,
        request_id: str | None,
        decoded_left: int,
        wait_turn: Callable[[], float] = lambda: 0.0,
    ) -> bytearray:
        """Read the body with one deadline for the whole of it: a trickling upstream cannot hold us.

        Both sizes are checked as the body streams in, so no more than a limit plus one chunk is ever
        held: the wire bytes (urllib3's count of what it read from the socket) against
        `api.max_response_size`, the decoded bytes against what `api.max_decoded_size` leaves of this
        request's budget. A Content-Length past the wire limit is refused before reading at all.
        One growing buffer, not a list of chunks joined at the end: that would hold the body twice.
        Past BIG_ANSWER the read waits for its turn (Gate); the wait does not count against the deadline.
        """
        wire_limit = self._api.max_response_size
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > wire_limit:
            raise self._too_large(endpoint, request_id, f"of {declared} bytes (Content-Length)")
        deadline = self._clock() + self._api.timeout
        body = bytearray()
        raw = response.raw
        with map_exceptions(endpoint, request_id, reading=True):
            # read1, not iter_content: iter_content waits for a whole 64 KiB chunk, so a body trickling in a
            # byte at a time would never reach the deadline check; read1 returns whatever has arrived.
            # urllib3 (2.6 and later) decodes at most CHUNK bytes per call, whatever the compression ratio.
            while chunk := raw.read1(CHUNK, decode_content=True):
                body += chunk
                if raw.tell() > wire_limit:
                    raise self._too_large(endpoint, request_id, "on the wire")
                if len(body) > decoded_left:
                    raise self._too_large(endpoint, request_id, "", decoded=True)
                if len(body) > BIG_ANSWER:
                    deadline += wait_turn()
                if self._clock() > deadline:
                    raise UpstreamTimeout(
                        f"response body not complete after {self._api.timeout:g}s",
                        endpoint=endpoint,
                        request_id=request_id,
                    )
        return body

    def _too_large(self, endpoint: str, request_id: str | None, how: str, *, decoded: bool = False) -> LimitExceeded:
        api = self._api
        if decoded:
            text = (
                f"answer decodes to more than {_size_text(api.max_decoded_size)}"
                " (api.max_decoded_size; the pages of one list count together)"
            )
        else:
            text = f"response {how} exceeds {_size_text(api.max_response_size)} (api.max_response_size)"
        return LimitExceeded(text, endpoint=endpoint, request_id=request_id)

    @contextmanager
    def _timed(self, endpoint: str) -> Iterator[list[str]]:
        """Count and time one attempt; the code is the HTTP status, or what the transport error says."""
        outcome = ["connection_error"]
        start = self._clock()
        try:
            yield outcome
        except UpstreamTimeout:
            outcome[0] = "timeout"
            raise
        except TransportError:
            outcome[0] = "connection_error"
            raise
        finally:
            self._observe(endpoint, outcome[0], self._clock() - start)

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        delay = _retry_after_seconds(retry_after, self._wall())
        if delay is None:
            # Full jitter (AWS architecture blog): spreads retries of many workers apart.
            delay = self._rng.uniform(0, BACKOFF_BASE * 2**attempt)
        self._sleep(min(delay, self._api.max_backoff))


@contextmanager
def map_exceptions(endpoint: str, request_id: str | None = None, *, reading: bool = False) -> Iterator[None]:
    """Turn what requests (sending) or urllib3 and the socket (reading the body) raise into our TransportError.

    Only our own words: requests' messages embed full URLs, which may carry customer ids. `from None`
    rather than `from exc`, unlike httpx: the cause would keep those messages, and the request with its
    bearer token, alive on an error the refresher keeps for its snapshot.
    """
    try:
        yield
    except requests.exceptions.RequestException as exc:
        raise _sending_error(exc, endpoint, request_id) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        if not reading:
            raise
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError | TimeoutError):
            raise UpstreamTimeout("timed out reading the response", endpoint=endpoint, request_id=request_id) from None
        raise TransportError(
            "connection broke while reading the response", endpoint=endpoint, request_id=request_id
        ) from None


def _sending_error(
    exc: requests.exceptions.RequestException, endpoint: str, request_id: str | None = None
) -> TransportError:
    if isinstance(exc, requests.exceptions.Timeout):
        return UpstreamTimeout("timed out", endpoint=endpoint, request_id=request_id)
    if isinstance(exc, requests.exceptions.SSLError):
        reason = "TLS handshake failed (certificate not trusted? see api.ca_file)"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
            reason = "host name could not be resolved"
        elif "refused" in text.lower():
            reason = "connection refused"
        elif "reset" in text.lower() or "aborted" in text.lower():
            reason = "connection reset"
        else:
            reason = "connection failed"
    else:
        reason = exc.__class__.__name__
    return TransportError(reason, endpoint=endpoint, request_id=request_id)


def _size_text(size: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor and size % (factor // 16) == 0:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"


def _retry_after_seconds(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)

"""The AvePoint API client (legacy or v3): one method per endpoint; timeouts, retries, rate limit, concurrency cap."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import urllib3

from exporter import __version__, codes, memory
from exporter.config import ApiConfig, AuthConfig
from exporter.errors import (
    ApiError,
    AuthError,
    ConfigError,
    HTTPStatusError,
    LimitExceeded,
    ResponseFormatError,
    TransportError,
    UpstreamTimeout,
)
from exporter.upstream import auth as authmod

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REQUEST_ID_HEADERS = ("request-id", "x-request-id", "x-correlation-id", "x-ms-request-id", "traceparent")
BACKOFF_BASE = 0.5
# What one read asks of urllib3: it decodes at most this much per call, so a gzip bomb is stopped at a
# limit plus one chunk, never inflated whole.
CHUNK = 64 * 1024
# An answer past this size waits for its turn (see Gate); a legitimate customer's is some 9 KB.
BIG_ANSWER = 2**20
_NON_SPACE = re.compile(rb"[^ \t\r\n\x0b\x0c]")  # what bytes.strip() strips, without copying the body

EP_TOKEN = "token"  # noqa: S105 - an endpoint label, not a secret
EP_CUSTOMERS = "/partner/customers"
EP_JOBS = "/partner/customers/{id}/jobs"
EP_JOBS_BY_MODULE = "/partner/customers/{id}/jobs/jobType/{jobType}/jobModule/{jobModule}"
EP_PROTECTED = "/partner/customers/{id}/protected"
EP_SERVICES = "/partner/services"
V3_PREFIX = "/partner/external/v3/general"
EP_V3_CUSTOMERS = V3_PREFIX + "/customers/batch"
EP_V3_JOBS = V3_PREFIX + "/customers/{customerId}/avpt-products/jobs/batch"
EP_V3_SERVICES = V3_PREFIX + "/customers/services/batch"
EP_V3_PROTECTED = V3_PREFIX + "/customers/{customerId}/cloud-backup-m365/overview"
# The documented maximum: the fewest requests for a large estate.
V3_PAGE_SIZE = 100

Observer = Callable[[str, str, float], None]


class Budget:
    """What one logical request may still cost, all its pages together: decoded bytes, JSON values, pages, time.

    One per call of an endpoint method, so a paged list cannot add up to more than one maximal answer.
    """

    def __init__(self, api: ApiConfig, endpoint: str, clock: Callable[[], float]) -> None:
        self._api, self._endpoint, self._clock = api, endpoint, clock
        self.decoded_left = api.max_decoded_size
        self.values_left = api.max_json_values
        self.pages = 0
        self.deadline = clock() + api.paging_timeout

    def next_page(self) -> None:
        """Count one more page; refuse it past `api.max_pages` or `api.paging_timeout`."""
        api = self._api
        if self.pages >= api.max_pages:
            raise LimitExceeded(
                f"paging did not end after {api.max_pages} pages (api.max_pages)", endpoint=self._endpoint
            )
        if self.pages and self._clock() > self.deadline:
            raise LimitExceeded(
                f"paging did not end within {api.paging_timeout:g}s, after {self.pages} pages (api.paging_timeout)",
                endpoint=self._endpoint,
            )
        self.pages += 1

    def charge(self, body: bytearray, request_id: str | None) -> None:
        """Count the JSON values of `body` before json.loads builds them; refuse past `api.max_json_values`.

        Every value but the first of a container follows a comma, and every container opens with a
        bracket, so the count of those bytes bounds the values (strings holding them only overcount).
        Three bytes.count passes take some 40 ms for 32 MiB, a fraction of what json.loads would.
        """
        values = body.count(b",") + body.count(b"{") + body.count(b"[")
        if values > self.values_left:
            raise LimitExceeded(
                f"answer holds more than {self._api.max_json_values} JSON values (api.max_json_values)",
                endpoint=self._endpoint,
                request_id=request_id,
            )
        self.values_left -= values
        self.decoded_left -= len(body)


class Gate:
    """Lets one answer at a time grow past BIG_ANSWER, from its reading to the end of json.loads.

    The bounds of one answer (api.max_decoded_size, api.max_json_values) would otherwise be multiplied
    by api.max_concurrency: eight hostile answers at once cost eight times the memory one may. Small
    answers, nearly all of them, never wait.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._lock = threading.Lock()
        self._clock = clock

    @contextmanager
    def turn(self) -> Iterator[Callable[[], float]]:
        """A context for one attempt; calling what it yields waits for the turn, returning the seconds waited."""
        held = False

        def enter() -> float:
            nonlocal held
            if held:
                return 0.0
            started = self._clock()
            self._lock.acquire()
            held = True
            return self._clock() - started

        try:
            yield enter
        finally:
            if held:
                self._lock.release()


class RateLimiter:
    """Spaces request starts to at most `rate` per second, allowing a burst of `burst` (GCRA)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / rate
        self._tolerance = (max(burst, 1) - 1) * self._interval
        self._clock, self._sleep = clock, sleep
        self._tat = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            wait = tat - self._tolerance - now
            self._tat = tat + self._interval
        if wait > 0:
            self._sleep(wait)


class Client:
    """Talks to the AvePoint partner API.

    Retries are written out here rather than delegated to urllib3's `Retry`: every attempt must pass
    the rate limiter and concurrency cap, be counted in `avepoint_api_requests_total`, renew the token
    once on a 401, and cap a server's `Retry-After` so one refresh always ends in bounded time.
    """

    def __init__(
        self,
        api: ApiConfig,
        auth: AuthConfig,
        *,
        observe: Observer | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._api, self._auth = api, auth
        self._v3 = api.version == "v3"
        self._base = api.base_url.rstrip("/")
        self._origin = urlsplit(self._base)[:2]
        self._observe = observe or (lambda endpoint, code, seconds: None)
        self._clock, self._wall, self._sleep = clock, wall_clock, sleep
        self._rng = rng or random.Random()
        self._limiter = RateLimiter(api.max_requests_per_second, api.max_concurrency, clock, sleep)
        self._slots = threading.BoundedSemaphore(api.max_concurrency)
        self._gate = Gate(clock)
        # The gate bounds what answers cost at once only if a freed answer's memory really goes.
        memory.return_large_blocks()
        self._tokens = authmod.TokenCache(clock)
        self._session = session or requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=api.max_concurrency, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = _user_agent()
        # The environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE) is read once, here: with trust_env
        # requests rereads all of it on every request, over half a millisecond each in a busy refresh.
        self._session.trust_env = False
        self._proxies = {
            urlsplit(url)[:2]: requests.utils.get_environ_proxies(url) for url in (self._base, api.token_url)
        }
        self._verify: bool | str = (
            api.ca_file or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )

    def close(self) -> None:
        self._session.close()

    # --- endpoints ----------------------------------------------------------------------------
    # Each returns the elements as the API sent them: legacy names or v3 integer codes alike.
    # Turning codes into names is parse's job, so both backends feed the same parsers.

    @property
    def version(self) -> str:
        return self._api.version

    def customers(self, customer_ids: Sequence[str] | None = None) -> list[Any]:
        """Every customer the app registration may see, or only those of `customer_ids`.

        Legacy has no filter, so there the list is cut on this side. An empty list asks nothing:
        what v3 makes of `"customerIds": []` is undocumented.
        """
        if customer_ids is not None and not customer_ids:
            return []
        if self._v3:
            return self._post_pages(EP_V3_CUSTOMERS, EP_V3_CUSTOMERS, _ids_body(customer_ids))
        return _only(self._get_list(EP_CUSTOMERS, "/partner/customers"), "id", customer_ids)

    def jobs(self, customer_id: str) -> list[Any]:
        """The latest job row of every job type and module of one customer."""
        if self._v3:
            return self._post_pages(EP_V3_JOBS, _v3_jobs_path(customer_id), {})
        return self._get_list(EP_JOBS, f"/partner/customers/{_seg(customer_id)}/jobs")

    def jobs_for(self, customer_id: str, job_type: str, job_module: str) -> list[Any]:
        """The latest job rows of one job type and module, both given by name.

        Legacy puts the names in the path (they contain spaces); v3 filters by code, so a name
        is looked up in the v3 tables (a decimal string is taken as the code itself). Config
        validation refuses names without a code, so the ConfigError here is only a backstop.
        """
        if self._v3:
            body = {
                "jobType": _code_of(codes.JOB_TYPES, codes.canonical_job_type(job_type), "job_type"),
                "jobModule": _code_of(codes.JOB_MODULES, codes.canonical_job_module(job_module), "job_module"),
            }
            return self._post_pages(EP_V3_JOBS, _v3_jobs_path(customer_id), body)
        # The legacy route knows its own spellings only: a canonical (v3) name is sent as legacy spells it.
        legacy_type, legacy_module = codes.legacy_job_type(job_type), codes.legacy_job_module(job_module)
        path = (
            f"/partner/customers/{_seg(customer_id)}/jobs/jobType/{_seg(legacy_type)}/jobModule/{_seg(legacy_module)}"
        )
        return self._get_list(EP_JOBS_BY_MODULE, path)

    def protected(self, customer_id: str) -> list[Any]:
        """Cloud Backup for Microsoft 365 protected data of one customer, one element per service module."""
        if self._v3:
            path = f"{V3_PREFIX}/customers/{_seg(customer_id)}/cloud-backup-m365/overview"
            return self._get_elements(EP_V3_PROTECTED, path)
        return self._get_list(EP_PROTECTED, f"/partner/customers/{_seg(customer_id)}/protected")

    def services(self, customer_ids: Sequence[str] | None = None) -> list[Any]:
        """Subscriptions: one element per customer (`customerId`, `products[]`), all or those of `customer_ids`."""
        if customer_ids is not None and not customer_ids:
            return []
        if self._v3:
            return self._post_pages(EP_V3_SERVICES, EP_V3_SERVICES, _ids_body(customer_ids))
        return _only(self._get_list(EP_SERVICES, "/partner/services"), "customerId", customer_ids)

    def token(self) -> str:
        """A valid access token, from the cache or the token endpoint (one request for all threads)."""
        cached = self._tokens.get()
        if cached is not None:
            return cached
        with self._tokens.renewal:
            cached = self._tokens.get()
            if cached is not None:
                return cached
            form = authmod.token_form(self._auth, self._api.token_url, self._wall())
            body = self._call(EP_TOKEN, "POST", self._api.token_url, self._budget(EP_TOKEN), data=form, authorize=False)
            if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
                raise ResponseFormatError("token endpoint answered without an access_token", endpoint=EP_TOKEN)
            try:
                lifetime = authmod.token_lifetime(body.get("expires_in"))
            except ValueError as exc:
                raise ResponseFormatError(f"token endpoint answered {exc}", endpoint=EP_TOKEN) from None
            self._tokens.put(body["access_token"], lifetime)
            return str(body["access_token"])

    # --- machinery ----------------------------------------------------------------------------

    def _budget(self, endpoint: str) -> Budget:
        return Budget(self._api, endpoint, self._clock)

    def _get_list(self, endpoint: str, path: str) -> list[Any]:
        """GET an OData collection, following `@odata.nextLink` while the upstream sends one.

        A chain of ever new links ends at `api.max_pages` or `api.paging_timeout`, and its bytes and
        values count against one budget, so a hostile chain costs no more than one maximal answer.
        """
        url: str | None = self._base + path
        rows: list[Any] = []
        seen: set[str] = set()
        budget = self._budget(endpoint)
        while url is not None:
            if url in seen:
                raise ResponseFormatError(
                    f"@odata.nextLink loops: page {len(seen) + 1} repeats an earlier link", endpoint=endpoint
                )
            seen.add(url)
            budget.next_page()
            body = self._call(endpoint, "GET", url, budget)
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise ResponseFormatError(
                    f"expected a JSON object with a 'value' list, got {_shape(body)}", endpoint=endpoint
                )
            rows.extend(body["value"])
            url = self._next_link(body.get("@odata.nextLink"), endpoint)
        return rows

    def _post_pages(self, endpoint: str, path: str, body: dict[str, Any]) -> list[Any]:
        """POST a v3 batch route page by page (`pageIndex` from 1) until `metadata.totalCount` rows are held.

        Every v3 read route documents the same paging (AvePoint/cloud-api
        docs/elements/general/customer/get-all-customers.md, .../job/get-customer-jobs.md,
        .../service subscription/get-all-services.md): query pageIndex and pageSize, answer
        `{"data": [...], "metadata": {"totalCount": ...}}`. See `_pages` for what ends a list.
        """
        return self._pages(endpoint, "POST", path, body, _batch_page)

    def _pages(
        self,
        endpoint: str,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        read_page: Callable[[object, str], tuple[list[Any], bool]],
    ) -> list[Any]:
        """Read a v3 route page by page until `metadata.totalCount` rows are held.

        A server may page smaller than asked, so a short page is never taken as the last. A
        server that never completes cannot hold a refresh, and half a list is never exported
        as if it were all of it: an empty page before the total, a page repeating the one
        before (pageIndex ignored), a totalCount that changes between pages, more rows than the
        total, more than `api.max_pages` pages or paging past `api.paging_timeout` is an error, so
        the refresh of that customer fails and its last good data stays. Without a total
        (undocumented, but seen in other paged APIs) the first empty page ends the list.
        `read_page` gives a page's rows and whether it is a paged envelope at all (an unpaged
        answer is the whole list).
        """
        rows: list[Any] = []
        previous: list[Any] | None = None
        first_total: int | None = None
        index = 1
        budget = self._budget(endpoint)
        while True:
            budget.next_page()
            url = f"{self._base}{path}?pageIndex={index}&pageSize={V3_PAGE_SIZE}"
            page = self._call(endpoint, method, url, budget, json_body=body)
            data, paged = read_page(page, endpoint)
            if not paged:
                if index == 1:
                    return data
                raise ResponseFormatError(f"page {index} lost the paging envelope", endpoint=endpoint)
            total = _total_count(page.get("metadata"), endpoint) if isinstance(page, dict) else None
            if index == 1:
                first_total = total
            elif total != first_total:
                raise ResponseFormatError(
                    f"metadata.totalCount changed from {first_total} to {total} on page {index}", endpoint=endpoint
                )
            if total is not None and len(rows) >= total:
                return rows
            if not data:
                if total is None:
                    return rows
                raise ResponseFormatError(
                    f"page {index} is empty with {len(rows)} of metadata.totalCount {total} rows held",
                    endpoint=endpoint,
                )
            if data == previous:
                raise ResponseFormatError(f"page {index} repeats page {index - 1}", endpoint=endpoint)
            rows.extend(data)
            if total is not None and len(rows) > total:
                raise ResponseFormatError(
                    f"page {index} brings {len(rows)} rows, more than metadata.totalCount {total}", endpoint=endpoint
                )
            if total is not None and len(rows) == total:
                return rows
            previous = data
            index += 1

    def _get_elements(self, endpoint: str, path: str) -> list[Any]:
        """GET the v3 overview, paged like the batch routes since December 2025.

        AvePoint/cloud-api docs/elements/change-log.md (December 2025) and
        docs/elements/general/job/get-customer-cloud-backup-m365-overview.md: GET with query
        pageIndex / pageSize, answer `data` + `metadata.totalCount`. Older answers (before the
        change, or a proxy's rewrite) without `metadata` are one whole list: v3's `data`,
        OData's `value`, a bare list or one object.
        """
        return self._pages(endpoint, "GET", path, None, _overview_page)

    def _next_link(self, link: object, endpoint: str) -> str | None:
        if link is None or link == "":
            return None
        if not isinstance(link, str):
            raise ResponseFormatError("@odata.nextLink is not a string", endpoint=endpoint)
        if link.startswith("/"):
            link = self._base + link
        # The bearer token goes with the request: never follow a link to another host.
        if urlsplit(link)[:2] != self._origin:
            raise ResponseFormatError("@odata.nextLink points to another host", endpoint=endpoint)
        return link

    def _call(
        self,
        endpoint: str,
        method: str,
        url: str,
        budget: Budget,
        *,
        data: dict[str, str] | None = None,
        json_body: object = None,
        authorize: bool = True,
    ) -> Any:
        """One logical request: retries, backoff and one token renewal on 401. Returns parsed JSON.

        POSTs of v3 batch routes are reads, so they are retried exactly like GETs.
        """
        renewed = False
        attempt = 0
        while True:
            headers = {"Accept": "application/json"}
            token = None
            if authorize:
                token = self.token()
                headers["Authorization"] = f"Bearer {token}"
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
                        return _decode_json(body, endpoint, request_id)
            if failure is not None:
                if attempt >= self._api.retries:
                    raise failure
                log.debug("retrying after transport error", extra={"endpoint": endpoint, "error": str(failure)})
                self._backoff(attempt, None)
                attempt += 1
                continue
            if status == 401 and token is not None and not renewed:
                # Tokens can be revoked or expire early; one fresh token, then a 401 is final.
                self._tokens.invalidate(token)
                renewed = True
                continue
            if status in RETRY_STATUSES and attempt < self._api.retries:
                self._backoff(attempt, retry_after)
                attempt += 1
                continue
            raise _status_error(endpoint, status, body, request_id)

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
            try:
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
            except requests.exceptions.RequestException as exc:
                raise _transport_error(exc, endpoint) from None
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
        try:
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
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if isinstance(exc, urllib3.exceptions.ReadTimeoutError | TimeoutError):
                raise UpstreamTimeout(
                    "timed out reading the response", endpoint=endpoint, request_id=request_id
                ) from None
            raise TransportError(
                "connection broke while reading the response", endpoint=endpoint, request_id=request_id
            ) from None
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


def _size_text(size: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor and size % (factor // 16) == 0:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"


def _seg(value: str) -> str:
    return quote(value, safe="")


def _v3_jobs_path(customer_id: str) -> str:
    return f"{V3_PREFIX}/customers/{_seg(customer_id)}/avpt-products/jobs/batch"


def _ids_body(customer_ids: Sequence[str] | None) -> dict[str, Any]:
    return {} if customer_ids is None else {"customerIds": list(customer_ids)}


def _only(rows: list[Any], key: str, customer_ids: Sequence[str] | None) -> list[Any]:
    if customer_ids is None:
        return rows
    wanted = set(customer_ids)
    return [row for row in rows if isinstance(row, dict) and row.get(key) in wanted]


def _code_of(table: Mapping[int, str], name: str, key: str) -> int:
    number = codes.code(table, name)
    if number is None:
        raise ConfigError(f"jobs.select: {key} {name!r} has no v3 code")
    return number


def _batch_page(page: object, endpoint: str) -> tuple[list[Any], bool]:
    """A batch route's page: always the paged envelope with a `data` list."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise ResponseFormatError(f"expected a JSON object with a 'data' list, got {_shape(page)}", endpoint=endpoint)
    return list(page["data"]), True


def _overview_page(page: object, endpoint: str) -> tuple[list[Any], bool]:
    """An overview page: the paged envelope when `metadata` is there, else one whole list."""
    if isinstance(page, dict) and isinstance(page.get("data"), list) and isinstance(page.get("metadata"), dict):
        return list(page["data"]), True
    if isinstance(page, list):
        return page, False
    if isinstance(page, dict):
        for key in ("data", "value"):
            if isinstance(page.get(key), list):
                return list(page[key]), False
            if isinstance(page.get(key), dict):
                return [page[key]], False
        if page and not any(key in page for key in ("data", "value", "metadata")):
            return [page], False
    raise ResponseFormatError(f"expected a list of elements, got {_shape(page)}", endpoint=endpoint)


def _total_count(metadata: object, endpoint: str) -> int | None:
    if metadata is None:
        return None
    total = metadata.get("totalCount") if isinstance(metadata, dict) else None
    if total is None and isinstance(metadata, dict):
        return None
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ResponseFormatError("metadata.totalCount is not a non-negative integer", endpoint=endpoint)
    return total


def _user_agent() -> str:
    return f"avepoint-backup-exporter/{__version__}"


def _shape(body: object) -> str:
    if isinstance(body, dict):
        keys = ", ".join(sorted(map(str, body))[:5])
        return f"an object with keys [{keys}]"
    names: dict[type, str] = {list: "a list", str: "a string"}
    return names.get(type(body), type(body).__name__)


def _decode_json(body: bytearray, endpoint: str, request_id: str | None) -> Any:
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


def _status_error(endpoint: str, status: int, body: bytes | bytearray, request_id: str | None) -> HTTPStatusError:
    detail = _error_detail(body)
    body_request_id, trace_id = _error_ids(body)
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


def _error_ids(body: bytes | bytearray) -> tuple[str | None, str | None]:
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


def _transport_error(
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
    # Only our own words: requests' messages embed full URLs, which may carry customer ids.
    return TransportError(reason, endpoint=endpoint, request_id=request_id)


__all__ = ["ApiError", "Client", "RateLimiter"]

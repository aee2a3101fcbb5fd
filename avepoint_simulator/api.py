"""One request to its answer: the token endpoint or a data route, behind the faults, the method and the scopes."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from avepoint_simulator.answers import Response, dumps, error_response, oauth_error, ok
from avepoint_simulator.dialects import legacy_job_row, v3_customer, v3_job_row
from avepoint_simulator.faults import TIMEOUT, Faults, Injector, retry_after
from avepoint_simulator.fleet import Customer, FleetSpec
from avepoint_simulator.identity import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Identity
from avepoint_simulator.routes import (
    ROUTE_CUSTOMER,
    ROUTE_CUSTOMERS,
    ROUTE_JOBS,
    ROUTE_JOBS_BY_MODULE,
    ROUTE_METHOD,
    ROUTE_SCAN_PROFILE_SUMMARY,
    ROUTE_SCAN_PROFILES,
    ROUTE_SCOPE,
    ROUTE_SERVICES,
    ROUTE_TOKEN,
    ROUTE_UNKNOWN,
    ROUTE_V3_CUSTOMERS,
    ROUTE_V3_JOBS,
    ROUTE_V3_PROTECTED,
    ROUTE_V3_SCAN_PROFILE_CHANGES,
    ROUTE_V3_SCAN_PROFILES,
    ROUTE_V3_SEATS,
    V3_PREFIX,
    id_filter,
    int_filter,
    json_body,
    legacy_page,
    match,
    v3_page,
)
from avepoint_simulator.rows import protected_rows, seat_rows, service_row
from avepoint_simulator.scan_profiles import Profile, listing_row, profiles, summary_row
from avepoint_simulator.scenario import Scenario


class Api(Scenario):
    """The scenario's API, legacy and v3 side by side, answering requests that a server hands it.

    Both families serve the same fleet: a v3 row is the legacy row with codes for names. The
    Simulator (server.py) serves it over HTTP.
    """

    def __init__(
        self,
        fleet: FleetSpec | None = None,
        *,
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str | None = DEMO_CLIENT_SECRET,
        public_key_pem: str | bytes | None = None,
        clock: Callable[[], float] = time.time,
        page_size: int | None = None,
        job_period: float = 86400.0,
        fault_seed: int = 0,
        enforce_scopes: bool = True,
        faults: Faults | None = None,
    ) -> None:
        if page_size is not None and page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        super().__init__(fleet, clock=clock, job_period=job_period)
        self._identity = Identity(client_id, client_secret, public_key_pem, clock)
        self.page_size = page_size
        self.enforce_scopes = enforce_scopes
        self.faults = faults if faults is not None else Faults()
        self._injector = Injector(fault_seed)

        self._stats_lock = threading.Lock()
        self._requests: Counter[tuple[str, int]] = Counter()
        self._request_log: deque[tuple[float, str, str, int]] = deque(maxlen=1000)
        # When each data request arrived (monotonic seconds) and its status, for rate measurements.
        self._arrivals: deque[tuple[float, int]] = deque(maxlen=1_000_000)

        self._stopping = threading.Event()
        self._base_url: str | None = None

    @property
    def client_id(self) -> str:
        return self._identity.client_id

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("simulator not started")
        return self._base_url

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/connect/token"

    def revoke_tokens(self) -> None:
        """Every token issued so far answers 401 from now on."""
        self._identity.revoke()

    @property
    def requests(self) -> Counter[tuple[str, int]]:
        """A snapshot: (route template, status) -> number of requests answered."""
        with self._stats_lock:
            return Counter(self._requests)

    @property
    def request_log(self) -> deque[tuple[float, str, str, int]]:
        """A snapshot of the last 1000 requests: (wall time, method, path, status)."""
        with self._stats_lock:
            return deque(self._request_log, maxlen=self._request_log.maxlen)

    @property
    def arrivals(self) -> list[tuple[float, int]]:
        """A snapshot of the last million data requests (not token requests): (monotonic time, status)."""
        with self._stats_lock:
            return list(self._arrivals)

    def reset_counters(self) -> None:
        with self._stats_lock:
            self._requests.clear()
            self._request_log.clear()
            self._arrivals.clear()

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; False when stop() cut the sleep short."""
        return seconds <= 0 or not self._stopping.wait(seconds)

    def _record(self, template: str, status: int, method: str, path: str, arrived: float) -> None:
        with self._stats_lock:
            self._requests[(template, status)] += 1
            self._request_log.append((time.time(), method, path, status))
            if template != ROUTE_TOKEN:
                self._arrivals.append((arrived, status))

    def _dispatch(
        self,
        *,
        method: str,
        raw_path: str,
        host: str | None,
        authorization: str | None,
        content_type: str | None,
        body: bytes,
    ) -> Response | None:
        """The answer to one request, with its request id; None when stop() cut it short (drop it)."""
        arrived = time.monotonic()
        split = urlsplit(raw_path)
        template, params = match(split.path)
        # Links are absolute, built from the address the client used (like a server behind
        # its own host name), so a client must follow them rather than rebuild them.
        base = f"http://{host}" if host else self.base_url
        rid = str(uuid.uuid4())
        if template == ROUTE_TOKEN:
            response = self._token(method, content_type, authorization, body, base)
        else:
            response = self._data(
                rid=rid,
                method=method,
                template=template,
                params=params,
                query=split.query,
                authorization=authorization,
                base=base,
                content_type=content_type,
                body=body,
            )
        if response is None:
            return None
        self._record(template, response.status, method, raw_path, arrived)
        return Response(
            response.status,
            response.body,
            response.content_type,
            (("request-id", rid), *response.headers),
        )

    def _token(
        self,
        method: str,
        content_type: str | None,
        authorization: str | None,
        body: bytes,
        base: str,
    ) -> Response | None:
        faults = self.faults
        if not self._sleep(faults.token_latency):
            return None
        if faults.token_status is not None:
            status = faults.token_status
            code = "server_error" if status >= 500 else "invalid_client"
            return oauth_error(status, code, faults, retry_after(status, faults))
        return self._identity.token(
            method=method,
            content_type=content_type,
            authorization=authorization,
            body=body,
            audiences=(f"{base}/connect/token", self.token_url),
            faults=faults,
        )

    def _data(
        self,
        *,
        rid: str,
        method: str,
        template: str,
        params: tuple[str, ...],
        query: str,
        authorization: str | None,
        base: str,
        content_type: str | None = None,
        body: bytes = b"",
    ) -> Response | None:
        faults = self.faults
        if not self._sleep(faults.latency):
            return None
        # Faults first: a gateway or proxy answers these before the service sees the token.
        fault = self._injector.before_data(faults, authorization or "")
        if fault is TIMEOUT:
            if not self._sleep(faults.timeout_sleep):
                return None
        elif fault is not None:
            return error_response(rid, fault.status, fault.message, faults, *fault.headers)
        if template == ROUTE_UNKNOWN:
            return error_response(rid, 404, "No such route", faults)
        allowed = ROUTE_METHOD[template]
        if method != allowed:
            return error_response(rid, 405, "Method not allowed", faults, ("Allow", allowed))
        scopes = self._identity.scopes(authorization)
        if scopes is None:
            return error_response(
                rid,
                401,
                "The access token is missing, invalid or expired",
                faults,
                ("WWW-Authenticate", 'Bearer error="invalid_token"'),
            )
        if self.enforce_scopes and ROUTE_SCOPE[template] not in scopes:
            return error_response(
                rid,
                403,
                f"The access token lacks the scope {ROUTE_SCOPE[template]}",
                faults,
                ("WWW-Authenticate", 'Bearer error="insufficient_scope"'),
            )
        if template in faults.forbidden_routes:
            # As a gateway answers a route the app registration was not granted (whatever its scopes say).
            return error_response(rid, 403, "The application may not call this route", faults)
        now = self._clock()
        # Every route with a parameter names a customer first.
        customer: Customer | None = None
        if params:
            customer = self._served_customer(params[0])
            if customer is None:
                return error_response(rid, 404, f"Customer {params[0]} not found", faults)
            if customer.id in faults.forbidden_customers:
                return error_response(rid, 403, "The application may not read this customer", faults)
            if customer.id in faults.failing_customers:
                return error_response(rid, 500, "Internal server error", faults)
        payload: object
        if template in (ROUTE_SCAN_PROFILE_SUMMARY, ROUTE_V3_SCAN_PROFILE_CHANGES):
            assert customer is not None
            profile = self._profile(customer, params[1])
            if profile is None:
                return error_response(rid, 404, f"Scan profile {params[1]} not found", faults)
            summary = summary_row(profile, now, v3=template == ROUTE_V3_SCAN_PROFILE_CHANGES)
            if template == ROUTE_SCAN_PROFILE_SUMMARY:
                summary = {
                    "@odata.context": f"{base}/partner/api/V1.1/$metadata#Portal.Api.Model.ProfileDailyNewDetailInfo",
                    **summary,
                }
            return ok(dumps(summary), faults)
        try:
            if template.startswith(V3_PREFIX):
                payload = self._v3_payload(
                    template,
                    customer,
                    params,
                    query=query,
                    content_type=content_type,
                    body=body,
                    now=now,
                    faults=faults,
                )
            else:
                payload = self._legacy_payload(template, customer, params, query=query, base=base, now=now)
        except ValueError as exc:
            return error_response(rid, 400, str(exc), faults)
        return ok(dumps(payload), faults)

    def _profile(self, customer: Customer, profile_id: str) -> Profile | None:
        return next((p for p in profiles(customer, self.fleet.seed) if p.profile_id == profile_id.lower()), None)

    def _legacy_payload(
        self, template: str, customer: Customer | None, params: tuple[str, ...], *, query: str, base: str, now: float
    ) -> object:
        if template == ROUTE_CUSTOMERS:
            return legacy_page(
                [c.record for c in self._customers if c.id not in self._removed],
                query,
                base,
                "Customers",
                ROUTE_CUSTOMERS,
                page_size=self.page_size,
            )
        if template == ROUTE_SERVICES:
            return legacy_page(self.services(now), query, base, "Services", ROUTE_SERVICES, page_size=self.page_size)
        assert customer is not None
        # Every legacy answer carries its @odata.context, as in each legacy sample
        # (AvePoint/cloud-api docs/docs/services-and-features/elements/**).
        context = f"{base}/partner/$metadata#"
        if template == ROUTE_CUSTOMER:
            return {"@odata.context": context + "Customers/$entity", **customer.record}
        if template == ROUTE_JOBS:
            return {
                "@odata.context": context + "Collection(Portal.Api.Model.BackUpJob)",
                "value": [legacy_job_row(row) for row in self._job_rows(customer, now)],
            }
        if template == ROUTE_SCAN_PROFILES:
            rows = [listing_row(p) for p in profiles(customer, self.fleet.seed)]
            path = f"/partner/customers/{customer.id}/scanProfiles"
            return legacy_page(
                rows, query, base, "Collection(Portal.Api.Model.ProfileInfo)", path, page_size=self.page_size
            )
        if template == ROUTE_JOBS_BY_MODULE:
            # The path names the job in the legacy spelling, as the legacy rows do.
            wanted = (params[1].lower(), params[2].lower())
            rows = [
                row
                for row in map(legacy_job_row, self._job_rows(customer, now))
                if (str(row.get("jobType", "")).lower(), str(row.get("jobModule", "")).lower()) == wanted
            ]
            return {"@odata.context": context + "Collection(Portal.Api.Model.BackUpJob)", "value": rows}
        return {
            "@odata.context": context + "Collection(Portal.Api.Model.CustomerOverallProtected)",
            "value": protected_rows(customer, now),
        }

    def _v3_payload(
        self,
        template: str,
        customer: Customer | None,
        params: tuple[str, ...],
        *,
        query: str,
        content_type: str | None,
        body: bytes,
        now: float,
        faults: Faults,
    ) -> object:
        request = json_body(body, content_type)
        if template == ROUTE_V3_SEATS:
            assert customer is not None
            return v3_page(self._seat_rows(customer, params[1], request), query, self.page_size, faults)
        if template == ROUTE_V3_PROTECTED:
            assert customer is not None
            # Paged since December 2025 (AvePoint/cloud-api docs/elements/change-log.md).
            return v3_page(protected_rows(customer, now), query, self.page_size, faults)
        if template == ROUTE_V3_SCAN_PROFILES:
            assert customer is not None
            ids = request.get("scanProfileIds")
            if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
                raise ValueError("scanProfileIds must be a list of strings")
            listed = [listing_row(p) for p in profiles(customer, self.fleet.seed) if ids is None or p.profile_id in ids]
            return v3_page(listed, query, self.page_size, faults)
        if template == ROUTE_V3_JOBS:
            assert customer is not None
            job_type, job_module = int_filter(request, "jobType"), int_filter(request, "jobModule")
            rows = [
                row
                for row in map(v3_job_row, self._job_rows(customer, now))
                if job_type in (None, row.get("jobType")) and job_module in (None, row.get("jobModule"))
            ]
            return v3_page(rows, query, self.page_size, faults)
        wanted = id_filter(request)
        chosen = [
            c for c in self._customers if c.id not in self._removed and (wanted is None or c.id.lower() in wanted)
        ]
        if template == ROUTE_V3_CUSTOMERS:
            return v3_page([v3_customer(c) for c in chosen], query, self.page_size, faults)
        return v3_page([service_row(c, now, v3=True) for c in chosen], query, self.page_size, faults)

    def _seat_rows(self, customer: Customer, raw_type: str, request: dict[str, Any]) -> list[dict[str, object]]:
        """The seats route's rows: {type} one of the documented 0-3, `tenantIds` an optional filter
        (docs/elements/general/tenant/get-3rd-party-products-tenant-type.md)."""
        try:
            tenant_type = int(raw_type)
        except ValueError:
            raise ValueError(f"type must be an integer, got {raw_type!r}") from None
        rows = seat_rows(customer, tenant_type, nearly_full=customer.id == self._customers[0].id)
        wanted = request.get("tenantIds")
        if wanted is None:
            return rows
        if not isinstance(wanted, list) or not all(isinstance(i, str) for i in wanted):
            raise ValueError("tenantIds must be a list of strings")
        ids = {i.lower() for i in wanted}
        return [row for row in rows if str(row["tenantId"]).lower() in ids]

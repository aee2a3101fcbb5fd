"""The AvePoint API client: one method per endpoint, in either dialect (legacy or v3), and the paging of each."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import requests

from exporter import codes
from exporter.config import ApiConfig, AuthConfig
from exporter.errors import ApiError, ResponseFormatError
from exporter.upstream.answers import shape
from exporter.upstream.auth import TokenAuth
from exporter.upstream.routes import (
    EP_CUSTOMERS,
    EP_JOBS,
    EP_JOBS_BY_MODULE,
    EP_PROTECTED,
    EP_SCAN_PROFILE_SUMMARY,
    EP_SCAN_PROFILES,
    EP_SERVICES,
    EP_V3_CUSTOMERS,
    EP_V3_JOBS,
    EP_V3_PROTECTED,
    EP_V3_SCAN_PROFILE_CHANGES,
    EP_V3_SCAN_PROFILES,
    EP_V3_SEATS,
    EP_V3_SERVICES,
    V3_PAGE_SIZE,
    V3_PREFIX,
    seg,
    v3_jobs_path,
    v3_seats_path,
)
from exporter.upstream.transport import Observer, Transport

# No proxy and requests' own CA bundle: what a Client built without the environment gets.
NO_ENVIRONMENT: Mapping[str, str] = MappingProxyType({})


class Client:
    """Talks to the AvePoint partner API: endpoints and paging here, HTTP in the transport, tokens in the auth.

    `env` stands for the process environment (the command line passes os.environ): HTTP(S)_PROXY,
    NO_PROXY, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE are read from it, once, and nothing else is.
    """

    def __init__(
        self,
        api: ApiConfig,
        auth: AuthConfig,
        *,
        env: Mapping[str, str] = NO_ENVIRONMENT,
        observe: Observer | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._api = api
        self._v3 = api.version == "v3"
        self._base = api.base_url.rstrip("/")
        self._origin = urlsplit(self._base)[:2]
        self._transport = Transport(
            api, env=env, observe=observe, session=session, clock=clock, wall_clock=wall_clock, sleep=sleep, rng=rng
        )
        self._auth = TokenAuth(auth, api, self._transport, clock=clock, wall_clock=wall_clock)

    def close(self) -> None:
        self._transport.close()

    # Each endpoint returns the elements as the API sent them: legacy names or v3 integer codes alike.
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
            return self._post_pages(EP_V3_JOBS, v3_jobs_path(customer_id), {})
        return self._get_list(EP_JOBS, f"/partner/customers/{seg(customer_id)}/jobs")

    def jobs_for(self, customer_id: str, job_type: str, job_module: str) -> list[Any]:
        """The latest job rows of one job type and module, both given by name.

        Legacy puts the names in the path (they contain spaces); v3 filters by code, so a name
        is looked up in the v3 tables (a decimal string is taken as the code itself). Config
        validation refuses names without a code, so the error here is only a backstop (see `_code_of`).
        """
        if self._v3:
            body = {
                "jobType": _code_of(codes.JOB_TYPES, codes.canonical_job_type(job_type), "job_type"),
                "jobModule": _code_of(codes.JOB_MODULES, codes.canonical_job_module(job_module), "job_module"),
            }
            return self._post_pages(EP_V3_JOBS, v3_jobs_path(customer_id), body)
        # The legacy route knows its own spellings only: a canonical (v3) name is sent as legacy spells it.
        legacy_type, legacy_module = codes.legacy_job_type(job_type), codes.legacy_job_module(job_module)
        path = f"/partner/customers/{seg(customer_id)}/jobs/jobType/{seg(legacy_type)}/jobModule/{seg(legacy_module)}"
        return self._get_list(EP_JOBS_BY_MODULE, path)

    def protected(self, customer_id: str) -> list[Any]:
        """Cloud Backup for Microsoft 365 protected data of one customer, one element per service module."""
        if self._v3:
            path = f"{V3_PREFIX}/customers/{seg(customer_id)}/cloud-backup-m365/overview"
            return self._get_elements(EP_V3_PROTECTED, path)
        return self._get_list(EP_PROTECTED, f"/partner/customers/{seg(customer_id)}/protected")

    def scan_profiles(self, customer_id: str) -> list[Any]:
        """The scan profiles of one customer: id, name, scan mode and modified time of each.

        v3 POSTs its batch route, paged as the others (no `scanProfileIds`: all of them); legacy GETs
        the OData list and follows `@odata.nextLink` (AvePoint/cloud-api
        docs/elements/general/job/get-customer-scan-profiles.md,
        docs/docs/services-and-features/elements/scan-profiles/all-scan-profiles.md).
        """
        if self._v3:
            path = f"{V3_PREFIX}/customers/{seg(customer_id)}/scan-profiles/batch"
            return self._post_pages(EP_V3_SCAN_PROFILES, path, {})
        return self._get_list(EP_SCAN_PROFILES, f"/partner/customers/{seg(customer_id)}/scanProfiles")

    def scan_profile_summary(self, customer_id: str, profile_id: str) -> dict[str, Any]:
        """One scan profile's daily summary: last scan status, last update, counts of its daily report.

        One JSON object in both generations: v3 `.../scan-profiles/{scanProfileId}/changes`
        (docs/elements/general/job/get-customer-scan-profile-changes.md), legacy
        `.../scanProfiles/{ProfileId}/dailyNewSummary`
        (docs/docs/services-and-features/elements/scan-profiles/daily-scan-profile-changes.md).
        """
        if self._v3:
            endpoint = EP_V3_SCAN_PROFILE_CHANGES
            path = f"{V3_PREFIX}/customers/{seg(customer_id)}/scan-profiles/{seg(profile_id)}/changes"
        else:
            endpoint = EP_SCAN_PROFILE_SUMMARY
            path = f"/partner/customers/{seg(customer_id)}/scanProfiles/{seg(profile_id)}/dailyNewSummary"
        budget = self._transport.budget(endpoint)
        budget.next_page()
        body = self._transport.call(endpoint, "GET", self._base + path, budget, auth=self._auth)
        if not isinstance(body, dict):
            raise ResponseFormatError(f"expected a JSON object, got {shape(body)}", endpoint=endpoint)
        return body

    def services(self, customer_ids: Sequence[str] | None = None) -> list[Any]:
        """Subscriptions: one element per customer (`customerId`, `products[]`), all or those of `customer_ids`."""
        if customer_ids is not None and not customer_ids:
            return []
        if self._v3:
            return self._post_pages(EP_V3_SERVICES, EP_V3_SERVICES, _ids_body(customer_ids))
        return _only(self._get_list(EP_SERVICES, "/partner/services"), "customerId", customer_ids)

    def seats(self, customer_id: str, tenant_type: int) -> list[Any]:
        """The user seats of a customer's tenants of one type (v3 only: the legacy routes have no such list).

        AvePoint/cloud-api docs/elements/general/tenant/get-3rd-party-products-tenant-type.md: POST, paged like
        the other batch routes, an optional `tenantIds` filter (not sent: every tenant), scope
        elements.license.read.all (the subscriptions' own).
        """
        if not self._v3:
            raise ApiError("user seats are read from the v3 API only", endpoint=EP_V3_SEATS)
        return self._post_pages(EP_V3_SEATS, v3_seats_path(customer_id, tenant_type), {})

    def token(self) -> str:
        """A valid access token, from the cache or the token endpoint (one request for all threads)."""
        return self._auth.token()

    def _get_list(self, endpoint: str, path: str) -> list[Any]:
        """GET an OData collection, following `@odata.nextLink` while the upstream sends one.

        A chain of ever new links ends at `api.max_pages` or `api.paging_timeout`, and its bytes and
        values count against one budget, so a hostile chain costs no more than one maximal answer.
        """
        url: str | None = self._base + path
        rows: list[Any] = []
        seen: set[str] = set()
        budget = self._transport.budget(endpoint)
        while url is not None:
            if url in seen:
                raise ResponseFormatError(
                    f"@odata.nextLink loops: page {len(seen) + 1} repeats an earlier link", endpoint=endpoint
                )
            seen.add(url)
            budget.next_page()
            body = self._transport.call(endpoint, "GET", url, budget, auth=self._auth)
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise ResponseFormatError(
                    f"expected a JSON object with a 'value' list, got {shape(body)}", endpoint=endpoint
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
        budget = self._transport.budget(endpoint)
        while True:
            budget.next_page()
            url = f"{self._base}{path}?pageIndex={index}&pageSize={V3_PAGE_SIZE}"
            page = self._transport.call(endpoint, method, url, budget, json_body=body, auth=self._auth)
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
        # Config validation refuses such a name at load (a config error is the loader's to raise); reached only
        # by a caller that skips it. An ApiError of this endpoint, so that one customer's refresh fails, named.
        raise ApiError(f"jobs.select: {key} {name!r} has no v3 code", endpoint=EP_V3_JOBS)
    return number


def _batch_page(page: object, endpoint: str) -> tuple[list[Any], bool]:
    """A batch route's page: always the paged envelope with a `data` list."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise ResponseFormatError(f"expected a JSON object with a 'data' list, got {shape(page)}", endpoint=endpoint)
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
    raise ResponseFormatError(f"expected a list of elements, got {shape(page)}", endpoint=endpoint)


def _total_count(metadata: object, endpoint: str) -> int | None:
    if metadata is None:
        return None
    total = metadata.get("totalCount") if isinstance(metadata, dict) else None
    if total is None and isinstance(metadata, dict):
        return None
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ResponseFormatError("metadata.totalCount is not a non-negative integer", endpoint=endpoint)
    return total

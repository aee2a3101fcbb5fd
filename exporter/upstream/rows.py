"""API rows to model records: customer, job, protected data, subscriptions, seats; what a job status means."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TypeVar

from exporter import codes, safe
from exporter.model import Customer, Job, Outcome, ProtectedData, Subscription, Tenant, TenantSeats
from exporter.upstream.values import (
    ParseError,
    capacity,
    count,
    duration_seconds,
    is_missing,
    quoted,
    size_bytes,
    timestamp,
)

T = TypeVar("T")


class Repaired(str):
    """A field name in a parser's error list whose text was kept repaired (`safe.repair`), not left out.

    A str, so that it counts and compares as the field name; only the log line tells the two apart.
    """

    __slots__ = ()


DEFAULT_OUTCOMES: Mapping[str, Outcome] = MappingProxyType(
    {
        "finished": Outcome.SUCCESS,
        "successful": Outcome.SUCCESS,
        "succeeded": Outcome.SUCCESS,
        "completed": Outcome.SUCCESS,
        "finished with exception": Outcome.WARNING,
        "partially succeeded": Outcome.WARNING,
        "warning": Outcome.WARNING,
        "failed": Outcome.FAILED,
        "failed to start": Outcome.FAILED,
        "rejected": Outcome.FAILED,
        "running": Outcome.RUNNING,
        "in progress": Outcome.RUNNING,
        "pending": Outcome.RUNNING,
        "not finished": Outcome.RUNNING,
        "canceled": Outcome.CANCELED,
        "cancelled": Outcome.CANCELED,
        "stopped": Outcome.CANCELED,
        "skipped": Outcome.NOT_RUN,
        "not started": Outcome.NOT_RUN,
        "not scanned": Outcome.NOT_RUN,
        "disabled": Outcome.NOT_RUN,
        "waiting for configuration": Outcome.NOT_RUN,
        "none": Outcome.NOT_RUN,
    }
)


def outcome(status: str, overrides: Mapping[str, Outcome] | None = None) -> Outcome:
    """What a status means; `overrides` (keys normalized too) win over the defaults."""
    key = codes.normalize_status(status)
    for name, value in (overrides or {}).items():
        if codes.normalize_status(name) == key:
            return value
    return DEFAULT_OUTCOMES.get(key, Outcome.UNKNOWN)


def _code(raw: int, table: Mapping[int, str] | None) -> str:
    if abs(raw) > codes.MAX_CODE:
        raise ParseError(f"code out of range: {quoted(raw)}")
    return codes.name(table, raw) if table is not None else str(raw)


def _text(raw: object) -> str | None:
    """A label value as sent but trimmed; an integer (a v3 code without a table) as its decimal."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw.strip()
    if isinstance(raw, int) and not isinstance(raw, bool):
        return _code(raw, None)
    raise ParseError(f"not a string: {quoted(raw)}")


def _coded(table: Mapping[int, str]) -> Callable[[object], str | None]:
    """A reader of a field that legacy sends as a name and v3 as a code of `table`.

    A code the table lacks becomes its decimal string: AvePoint adds modules faster than its
    documentation, and a job with an unknown module must still be exported, never dropped.
    """

    def read(raw: object) -> str | None:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return _code(raw, table)
        return _text(raw)

    return read


# Built once: a reader per row would cost a closure per field of every row.
_CUSTOMER_STATUS = _coded(codes.CUSTOMER_STATUSES)
_MANAGEMENT_MODE = _coded(codes.MANAGEMENT_MODES)
_JOB_STATUS = _coded(codes.JOB_STATUSES)
_TENANT_TYPE = _coded(codes.TENANT_TYPES)


def _optional_id(raw: object) -> str | None:
    text = _text(raw)
    return None if is_missing(text) else text


def _optional_text(raw: object) -> str:
    return _optional_id(raw) or ""


def _field(
    row: Mapping[str, object],
    name: str,
    parse: Callable[[object], T | None],
    errors: list[str],
) -> T | None:
    try:
        return parse(row.get(name))
    except ParseError:
        errors.append(name)
        return None


def _label(
    row: Mapping[str, object],
    name: str,
    read: Callable[[object], str | None],
    errors: list[str],
) -> str | None:
    """A text field, repaired where it must be (see `_repaired`)."""
    try:
        text = read(row.get(name))
    except ParseError:
        errors.append(name)
        return None
    # The fast path, inline: nearly every API string is short printable ASCII.
    if text is None or (text.isascii() and text.isprintable() and len(text) <= safe.MAX_TEXT):
        return text
    return _repaired(text, name, errors)


def _repaired(text: str, name: str, errors: list[str]) -> str:
    # Every API string that becomes a label or page text passes here (from `_label` or `_required`): the
    # one place where a lone surrogate, a control character or a megabyte of text is stopped, for every
    # output at once, and counted against its field.
    if safe.is_plain(text):
        return text
    errors.append(Repaired(name))
    return safe.repair(text)


def _required(
    row: Mapping[str, object], name: str, errors: list[str], table: Mapping[int, str] | None = None
) -> str | None:
    """A non-blank string, or (when `table` is given) a v3 code turned into its name."""
    raw = row.get(name)
    text = ""
    if isinstance(raw, str):
        text = raw.strip()
    elif table is not None and isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) <= codes.MAX_CODE:
        text = codes.name(table, raw)
    if not text:
        errors.append(name)
        return None
    if text.isascii() and text.isprintable() and len(text) <= safe.MAX_TEXT:
        return text
    return _repaired(text, name, errors)


def _tenants(row: Mapping[str, object], errors: list[str]) -> tuple[Tenant, ...]:
    raw = row.get("tenants")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.append("tenants")
        return ()
    tenants: list[Tenant] = []
    item_errors: list[str] = []
    left_out = False
    for item in raw:
        tenant_id = name = None
        if isinstance(item, Mapping):
            tenant_id = _label(item, "id", _optional_id, item_errors)
            name = _label(item, "name", _optional_text, item_errors)
        if tenant_id is None:  # a tenant without an id cannot be told apart: left out
            left_out = True
            continue
        tenants.append(Tenant(tenant_id, name or ""))
    if left_out or any(not isinstance(e, Repaired) for e in item_errors):
        errors.append("tenants")
    elif item_errors:
        errors.append(Repaired("tenants"))
    return tuple(tenants)


def customer(row: Mapping[str, object]) -> tuple[Customer | None, list[str]]:
    """A customer from one element of the customers list, and the API fields that could not be read.

    Accepts both backends: legacy sends `jobStatus` as a name, v3 as a code (mapped to the same
    names) plus `managementMode` and `tenants`, which legacy lacks ("" and () then). Never
    raises: without a usable `id` the result is (None, ["id"]).
    """
    errors: list[str] = []
    if not isinstance(row, Mapping):
        return None, ["id"]
    customer_id = _required(row, "id", errors)
    if customer_id is None:
        return None, errors
    record = Customer(
        id=customer_id,
        organization=_label(row, "organization", _text, errors) or "",
        country=_label(row, "countryOrRegion", _text, errors) or "",
        status=_label(row, "jobStatus", _CUSTOMER_STATUS, errors) or "",
        management_mode=_label(row, "managementMode", _MANAGEMENT_MODE, errors) or "",
        tenants=_tenants(row, errors),
    )
    return record, errors


def job(row: Mapping[str, object], overrides: Mapping[str, Outcome] | None = None) -> tuple[Job | None, list[str]]:
    """A job from one job row, and the API names of the fields that could not be read.

    Accepts both backends: v3 codes of `jobType`, `jobModule` and `status` become the names of
    the v3 tables, or their decimal string when a table lacks them; legacy spellings of a job
    type or module become the same canonical names (codes.LEGACY_JOB_TYPES / LEGACY_JOB_MODULES).
    Never raises: an unreadable field is None and named in the list; without a usable `jobType` and `jobModule` the job
    itself is None. A row without job id and start time describes a module that never ran, so
    it is not_run whatever its status.
    """
    errors: list[str] = []
    if not isinstance(row, Mapping):
        return None, ["jobType", "jobModule"]
    job_type = _required(row, "jobType", errors, codes.JOB_TYPES)
    job_module = _required(row, "jobModule", errors, codes.JOB_MODULES)
    if job_type is None or job_module is None:
        return None, errors
    # One job, one series on either generation: legacy spellings become the v3 table's.
    job_type, job_module = codes.canonical_job_type(job_type), codes.canonical_job_module(job_module)
    status = _label(row, "status", _JOB_STATUS, errors) or ""
    never_ran = is_missing(row.get("jobId")) and is_missing(row.get("startTime"))
    record = Job(
        job_type=job_type,
        job_module=job_module,
        job_id=_label(row, "jobId", _optional_id, errors),
        name=_label(row, "name", _optional_id, errors),
        status=status,
        outcome=Outcome.NOT_RUN if never_ran else outcome(status, overrides),
        objects=_field(row, "totalCount", count, errors),
        failed_objects=_field(row, "failedCount", count, errors),
        successful_objects=_field(row, "successfulCount", count, errors),
        skipped_objects=_field(row, "skippedCount", count, errors),
        warning_objects=_field(row, "warningCount", count, errors),
        size_bytes=_field(row, "backupSize", size_bytes, errors),
        duration_seconds=_field(row, "jobDuration", duration_seconds, errors),
        start_time=_field(row, "startTime", timestamp, errors),
        end_time=_field(row, "endTime", timestamp, errors),
        last_modified=_field(row, "lastModifyTime", timestamp, errors),
        never_ran=never_ran,
    )
    return record, errors


def protected(row: Mapping[str, object]) -> tuple[ProtectedData | None, list[str]]:
    """Protected data of one service module (legacy `/protected`, v3 `cloud-backup-m365/overview`).

    Never raises. Without a usable `serviceType` and `serviceModule` the record is None. Both
    are kept as sent: the documentation gives them as strings; should an integer arrive, it is
    exported as its decimal rather than guessed to share the job tables.
    """
    errors: list[str] = []
    if not isinstance(row, Mapping):
        return None, ["serviceType", "serviceModule"]
    service = _required_any(row, "serviceType", errors)
    module = _required_any(row, "serviceModule", errors)
    if service is None or module is None:
        return None, errors
    record = ProtectedData(
        service=service,
        module=module,
        scanned_objects=_field(row, "totalScannedObjects", count, errors),
        protected_objects=_field(row, "totalProtectedObjects", count, errors),
        bytes_avepoint=_field(row, "dataSizeStoredInAvePoint", size_bytes, errors),
        bytes_byos=_field(row, "dataSizeStoredInBYOS", size_bytes, errors),
    )
    return record, errors


def _required_any(row: Mapping[str, object], name: str, errors: list[str]) -> str | None:
    raw = row.get(name)
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) <= codes.MAX_CODE:
        return str(raw)
    return _required(row, name, errors)


def subscriptions(element: Mapping[str, object]) -> tuple[list[Subscription], list[str]]:
    """The subscriptions (one per product) of one element of the services list, and unread fields.

    Never raises. Without a usable `customerId` there is nothing to attribute, so ([], ["customerId"]);
    a product without `service` is left out and "service" named. `N/A` gives None, never 0.
    Consumed storage is `consumedStorage` alone: nothing documents the first half of a
    purchasedCapacity like "0/1 GB" (AvePoint/cloud-api docs/elements/general/service
    subscription/get-all-services.md), so it never stands in for a consumedStorage of "N/A".
    """
    errors: list[str] = []
    if not isinstance(element, Mapping):
        return [], ["customerId"]
    customer_id = _required(element, "customerId", errors)
    if customer_id is None:
        return [], errors
    products = element.get("products")
    if products is None:
        return [], errors
    if not isinstance(products, list):
        return [], [*errors, "products"]
    out: list[Subscription] = []
    for product in products:
        if not isinstance(product, Mapping):
            errors.append("products")
            continue
        service = _required(product, "service", errors)
        if service is None:
            continue
        _, purchased = _field(product, "purchasedCapacity", capacity, errors) or (None, None)
        consumed = _field(product, "consumedStorage", size_bytes, errors)
        out.append(
            Subscription(
                customer_id=customer_id,
                service=service,
                subscription_name=_label(product, "subscriptionName", _optional_text, errors) or "",
                model=_label(product, "subscriptionModel", _optional_text, errors) or "",
                storage=_label(product, "storage", _optional_text, errors) or "",
                expiry=_field(product, "expirationDate", timestamp, errors),
                contract_end=_field(product, "contractEndDate", timestamp, errors),
                purchased_seats=_field(product, "purchasedUserSeats", count, errors),
                purchased_units=_field(product, "purchasedUnits", count, errors),
                licenses_assigned=_field(product, "microsoftLicenseAssigned", count, errors),
                licenses_available=_field(product, "microsoftLicenseAvailable", count, errors),
                capacity_purchased_bytes=purchased,
                capacity_protected_bytes=_field(product, "protectedCapacity", size_bytes, errors),
                # Only consumedStorage says what is consumed: the first half of a purchasedCapacity
                # like "0/1 GB" is undocumented, so a consumedStorage of "N/A" is left out, never 0.
                consumed_bytes=consumed,
            )
        )
    return out, errors


def tenant_seats(row: Mapping[str, object], requested_type: str) -> tuple[TenantSeats | None, list[str]]:
    """The user seats of one tenant (v3 `3rd-party-products/type/{type}/tenants/batch`), and unread fields.

    Never raises. Fields as AvePoint/cloud-api docs/elements/general/tenant/get-3rd-party-products-tenant-type.md
    documents them: `type` (0 Microsoft 365, 1 Salesforce, 2 Google, 3 Dynamics 365), `tenantId`,
    `tenantName`, `availableUserSeat`, `assignedUserSeat` (integers). Without a `tenantId` the row
    cannot be told apart from another: None. A row without `type` is of the type asked for.
    """
    errors: list[str] = []
    if not isinstance(row, Mapping):
        return None, ["tenantId"]
    tenant_id = _label(row, "tenantId", _optional_id, errors)
    if tenant_id is None:
        if "tenantId" not in errors:
            errors.append("tenantId")
        return None, errors
    tenant_type = _label(row, "type", _TENANT_TYPE, errors) or requested_type
    record = TenantSeats(
        tenant_type=tenant_type,
        tenant_id=tenant_id,
        tenant_name=_label(row, "tenantName", _optional_text, errors) or "",
        assigned=_field(row, "assignedUserSeat", count, errors),
        available=_field(row, "availableUserSeat", count, errors),
    )
    return record, errors

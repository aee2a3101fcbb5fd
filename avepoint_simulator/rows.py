"""The rows of a customer at a moment, in the catalog's names: job runs, never-run rows, protected data, services,
user seats.

Everything here is a pure function of the fleet, the time and the job period: rows are computed on
every request, never stored. How each API generation spells these rows is dialects.py's.
"""

from __future__ import annotations

import math
import time
from typing import Final

from avepoint_simulator.codes import TENANT_TYPE_CODES
from avepoint_simulator.dialects import LEGACY_MODULE
from avepoint_simulator.fleet import GIB, M365, SERVICE_NAMES, Customer, Module, uniforms

JOB_FIELDS: Final = (
    "jobType",
    "jobModule",
    "status",
    "jobId",
    "name",
    "totalCount",
    "failedCount",
    "successfulCount",
    "skippedCount",
    "warningCount",
    "backupSize",
    "startTime",
    "endTime",
    "lastModifyTime",
    "jobDuration",
)

_KIB: Final = 1024
_MIB: Final = 1024**2
_DAY: Final = 86400.0
# Sizes and object counts grow from this date on, so a fleet looks older the later the clock.
_GROWTH_EPOCH: Final = 1704067200.0  # 2024-01-01T00:00:00Z
_GROWTH_PER_DAY: Final = 0.002


# Cumulative thresholds for the outcome of one run.
_OUTCOMES: Final = (
    (0.85, "Finished"),
    (0.92, "Finished with exception"),
    (0.97, "Failed"),
    (0.985, "Canceled"),
    (0.995, "Failed to start"),
    (1.0, "Skipped"),
)


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _date(seconds: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


def format_size(n_bytes: float) -> str:
    """The API's size spelling: `12.5 GB`, `512 MB`, `0 GB` (binary multiples)."""
    if n_bytes <= 0:
        return "0 GB"
    if n_bytes >= GIB:
        text = f"{n_bytes / GIB:.2f}".rstrip("0").rstrip(".")
        return f"{text} GB"
    if n_bytes >= _MIB:
        return f"{round(n_bytes / _MIB)} MB"
    return f"{max(1, round(n_bytes / _KIB))} KB"


def format_duration(seconds: int) -> str:
    """The API's duration spelling: `45s`, `17m39s`, `1h2m3s`, `1d2h3m4s`."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h{minutes}m{secs}s"
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _growth(at: float) -> float:
    return max(0.1, 1.0 + _GROWTH_PER_DAY * (at - _GROWTH_EPOCH) / _DAY)


def _job_id(start: int, spare: bytes) -> str:
    return f"FB{time.strftime('%Y%m%d%H%M%S', time.gmtime(start))}{int.from_bytes(spare[:4]) % 1_000_000:06d}"


def _gib_number(n_bytes: float) -> str:
    return f"{n_bytes / GIB:.2f}".rstrip("0").rstrip(".") or "0"


def never_run_row(job_type: str, job_module: str) -> dict[str, object]:
    """The documented row of a module that has no job yet."""
    return {
        "jobType": job_type,
        "jobModule": job_module,
        "status": "Not Finished",
        "jobId": "N/A",
        "name": "N/A",
        "totalCount": "0",
        "failedCount": "0",
        "successfulCount": "0",
        "skippedCount": "0",
        "warningCount": "0",
        "backupSize": "0 GB",
        "startTime": "N/A",
        "endTime": "N/A",
        "lastModifyTime": "N/A",
        "jobDuration": "N/A",
    }


def run(module: Module, now: float, period: float) -> tuple[int, int, str, tuple[float, ...], bytes]:
    """The latest run at `now`: start, length in seconds, outcome, its draws, its id bytes."""
    phase = module.phase * period
    number = math.floor((now - phase) / period)
    start = math.floor(number * period + phase)
    draws, spare = uniforms(module.key + b"|" + str(number).encode())
    outcome = next(name for limit, name in _OUTCOMES if draws[0] < limit)
    if outcome == "Failed to start":
        seconds = 1.0 + 5.0 * draws[1]
    elif outcome == "Skipped":
        seconds = 1.0
    else:
        seconds = module.base_seconds * (0.6 + 0.8 * draws[1])
        if outcome == "Canceled":
            seconds *= 0.1 + 0.7 * draws[5]
    # A run must end before the next one starts, also with the short periods of tests.
    length = max(1, min(int(seconds), int(0.6 * period)))
    return start, length, outcome, draws, spare


def job_row(module: Module, now: float, period: float) -> dict[str, object]:
    """The row of a module's latest run at `now` (partial while it runs), with jobs every `period` seconds."""
    if module.never_run:
        return never_run_row(module.job_type, module.job_module)
    start, length, outcome, draws, spare = run(module, now, period)
    growth = _growth(start)
    total = max(1, round(module.base_objects * growth * (0.97 + 0.06 * draws[2])))
    size = module.base_bytes * growth
    skipped = int(total * 0.002 * draws[3]) if draws[3] < 0.3 else 0
    failed = warning = 0
    if outcome == "Finished with exception":
        warning = min(total - skipped, 1 + int(draws[4] * min(50.0, total * 0.01)))
    elif outcome == "Failed":
        # The v3 sample has status Failed with failedCount "0" (a job can fail as a whole).
        failed = 0 if draws[4] < 0.3 else min(total - skipped, 1 + int(draws[4] * total * 0.05))
        size *= 0.2 + 0.6 * draws[5]
    elif outcome == "Canceled":
        done = 0.1 + 0.7 * draws[5]
        total, skipped, size = int(total * done), int(skipped * done), size * done
    elif outcome in ("Failed to start", "Skipped"):
        total = skipped = 0
        size = 0.0
    end = start + length
    running = now < end
    if running:
        # The row of a run in progress: partial counts, no end time yet.
        done = (now - start) / length
        total, failed, skipped, warning = (
            int(total * done),
            int(failed * done),
            int(skipped * done),
            int(warning * done),
        )
        size *= done
    successful = max(0, total - failed - skipped - warning)
    return {
        "jobType": module.job_type,
        "jobModule": module.job_module,
        "status": "Running" if running else outcome,
        # Shaped like the documented FB20250911032116214502 (masked FB20****1103****214502 in
        # docs/elements/general/job/get-customer-jobs.md): "FB", the start time, six digits.
        "jobId": _job_id(start, spare),
        # The same sample names a job that ran "N/A".
        "name": "N/A" if spare[4] < 64 else f"{module.job_module} scheduled backup",
        "totalCount": str(total),
        "failedCount": str(failed),
        "successfulCount": str(successful),
        "skippedCount": str(skipped),
        "warningCount": str(warning),
        "backupSize": format_size(size),
        "startTime": iso(start),
        "endTime": "N/A" if running else iso(end),
        "lastModifyTime": iso(now) if running else iso(end),
        "jobDuration": format_duration(int(now) - start if running else length),
    }


def protected_rows(customer: Customer, now: float) -> list[dict[str, object]]:
    """The protected-data rows of a customer's Microsoft 365 modules (both generations spell them alike)."""
    growth = _growth(now)
    rows: list[dict[str, object]] = []
    for module in customer.modules:
        if module.job_type != M365:
            continue
        scanned = round(module.base_objects * growth * module.scan_factor)
        protected = 0 if module.never_run else round(scanned * module.protected_share)
        stored = 0.0 if module.never_run else module.base_bytes * growth * module.stored_factor
        rows.append(
            {
                "customerId": customer.id,
                "customer": customer.email,
                # As both generations' samples spell them (AvePoint/cloud-api
                # docs/docs/services-and-features/elements/data-protection/customers-protected.md,
                # docs/elements/general/job/get-customer-cloud-backup-m365-overview.md).
                "serviceType": SERVICE_NAMES[M365],
                "serviceModule": LEGACY_MODULE.get(module.job_module, module.job_module),
                "totalScannedObjects": scanned,
                "totalProtectedObjects": protected,
                "dataSizeStoredInAvePoint": "N/A" if customer.byos else format_size(stored),
                "dataSizeStoredInBYOS": format_size(stored) if customer.byos else "N/A",
            }
        )
    return rows


def service_row(customer: Customer, now: float, *, v3: bool = False) -> dict[str, object]:
    """A customer's subscriptions as the services routes serve them; `v3` for that generation's spellings."""
    growth = _growth(now)
    day = math.floor((now - _GROWTH_EPOCH) / _DAY)
    products: list[dict[str, str]] = []
    for product in customer.products:
        modules = [
            m
            for m in customer.modules
            if m.job_module in product.modules or (not product.modules and SERVICE_NAMES[m.job_type] == product.service)
        ]
        consumed = sum(m.base_bytes * m.stored_factor for m in modules) * growth
        renewals = max(0, math.ceil((day - product.anchor_day) / 365))
        expires_day = product.anchor_day + 365 * (renewals - (1 if product.lapsed else 0))
        expires = _date(_GROWTH_EPOCH + expires_day * _DAY)
        per_user = product.model == "User-based"
        m365 = product.service == SERVICE_NAMES[M365]
        purchased = "N/A" if per_user else f"{product.capacity_gib} GB"
        if v3 and not per_user:
            # v3 spells it "used/purchased", e.g. "0/1 GB"; the used side is the consumed storage.
            purchased = f"{_gib_number(consumed)}/{product.capacity_gib} GB"
        contract_end = expires if product.contract else "N/A"
        if v3:  # ISO 8601 instead of a bare date
            expires = f"{expires}T00:00:00Z"
            contract_end = contract_end if contract_end == "N/A" else f"{contract_end}T00:00:00Z"
        products.append(
            {
                "service": product.service,
                "subscriptionModel": product.model,
                "purchasedUserSeats": str(product.seats) if per_user else "N/A",
                "purchasedUnits": str(product.units) if product.units else "N/A",
                "microsoftLicenseAssigned": (str(product.assigned) if m365 else "N/A"),
                "microsoftLicenseAvailable": (
                    str(max(0, product.seats - product.assigned)) if m365 and per_user else "N/A"
                ),
                "purchasedCapacity": purchased,
                "protectedCapacity": "N/A" if per_user else format_size(consumed),
                "storage": product.storage,
                "retention": product.retention,
                "consumedStorage": format_size(consumed),
                "expirationDate": expires,
                "change": "N/A",
                "source": product.source,
                "paymentType": product.payment,
                "subscriptionName": "N/A",
                "package": product.package,
                "contractEndDate": contract_end,
            }
        )
    service: dict[str, object] = {
        "customerId": customer.id,
        "organization": customer.record["organization"],
        "customer": customer.email,
        "tenantId": ",".join(customer.tenant_ids),
        "products": products,
    }
    if v3:
        # v3 services carry no tenantId (docs/elements/general/service subscription/get-all-services.md).
        del service["tenantId"]
    return service


# The job types whose tenants hold user seats, by the seats route's tenant type (Microsoft 365 is every
# customer's: the v3 customer listing gives each its Microsoft 365 tenants).
_SEAT_JOB_TYPES: Final = {"Salesforce": "Salesforce", "Google": "Google Workspace", "Dynamics 365": "Dynamics 365"}
_SEAT_TOTALS: Final = (25, 50, 100, 250, 500, 1000)


def seat_rows(customer: Customer, tenant_type: int, *, nearly_full: bool = False) -> list[dict[str, object]]:
    """A customer's tenants of one type with their user seats, as v3's `3rd-party-products/type/{type}/tenants/batch`
    answers (docs/elements/general/tenant/get-3rd-party-products-tenant-type.md: `type` an integer, `tenantId`,
    `tenantName`, `availableUserSeat`, `assignedUserSeat` integers). `available` is what is left to assign.

    Seats are drawn from a hash, so every request agrees; `nearly_full` leaves the first Microsoft 365 tenant 2%
    of its seats (one tenant in the fleet, for the seats alert).
    """
    name = next((n for n, code in TENANT_TYPE_CODES.items() if code == tenant_type), None)
    if name is None:
        raise ValueError(f"type must be one of {sorted(TENANT_TYPE_CODES.values())}, got {tenant_type}")
    if name == "Microsoft 365":
        tenants = list(zip(customer.tenant_ids, customer.tenant_names or customer.tenant_ids, strict=False))
    elif any(m.job_type == _SEAT_JOB_TYPES[name] for m in customer.modules):
        _, spare = uniforms(f"{customer.id}|seats|{name}".encode())
        slug = customer.email.split("@", 1)[1].split(".", 1)[0]
        tenants = [(_uuid_from(spare), f"{slug} {name}")]
    else:
        tenants = []
    rows: list[dict[str, object]] = []
    for index, (tenant_id, tenant_name) in enumerate(tenants):
        (u_total, u_share, *_), _ = uniforms(f"{customer.id}|seats|{tenant_id}".encode())
        total = _SEAT_TOTALS[int(u_total * len(_SEAT_TOTALS))]
        # At most 90% assigned, below the mixin's seatsRatio, unless this is the tenant left nearly full.
        full = nearly_full and tenant_type == TENANT_TYPE_CODES["Microsoft 365"] and index == 0
        assigned = total - max(1, total // 50) if full else int(total * (0.45 + 0.45 * u_share))
        rows.append(
            {
                "type": tenant_type,
                "tenantId": tenant_id,
                "tenantName": tenant_name,
                "availableUserSeat": total - assigned,
                "assignedUserSeat": assigned,
            }
        )
    return rows


def _uuid_from(spare: bytes) -> str:
    hexed = spare.hex()
    return f"{hexed[:8]}-{hexed[8:12]}-4{hexed[13:16]}-8{hexed[17:20]}-{hexed[20:32]}"

"""How each API generation spells a row: the legacy names of types and modules, the v3 integer codes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from avepoint_simulator.codes import (
    CUSTOMER_STATUS_CODES,
    JOB_MODULE_CODES,
    JOB_STATUS_CODES,
    JOB_TYPE_CODES,
    V3_NEVER_RUN_STATUS,
)
from avepoint_simulator.fleet import IAAS, SALESFORCE_MODULE, Customer

# The legacy routes spell some types and modules their own way. AvePoint/elements-samples
# powershell/docs/ElementsCustomersApi.md (Get-ElementsCustomerJob, "Supported job module values")
# lists the legacy names; the v3 names are those of AvePoint/cloud-api
# docs/elements/general/job/get-customer-jobs.md. Kept here, not taken from the exporter, so that
# a test of the exporter's mapping does not check the table against itself.
_LEGACY_TYPE: Final = {IAAS: "Azure"}
LEGACY_MODULE: Final = {
    "OneDrive": "OneDrive for Business",
    "Microsoft 365 Groups": "Microsoft 365 Group",
    "Exchange Online Public Folder": "Exchange Online Public Folders",
    "Teams Chat": "Microsoft Teams Chat",
    "Azure Virtual Machine": "Virtual Machine",
    "Microsoft Entra ID": "Active Directory",
    "Dynamics CRM Backup": "Dynamics Customer Engagement",
    SALESFORCE_MODULE: "Salesforce",
}

_INTERNAL_TYPE: Final = {legacy: name for name, legacy in _LEGACY_TYPE.items()}
_INTERNAL_MODULE: Final = {legacy: name for name, legacy in LEGACY_MODULE.items()}


def internal(job_type: str, job_module: str) -> tuple[str, str]:
    """The catalog's (v3) names of a job given in either spelling: pins and windows take both."""
    return _INTERNAL_TYPE.get(job_type, job_type), _INTERNAL_MODULE.get(job_module, job_module)


def _encoder(table: Mapping[str, int], **aliases: int) -> Callable[[object], object]:
    """Name -> v3 code: the table's exact spelling, or a decimal string such as "601".

    Anything else (a pinned oddity) is sent as it is, so tests can feed the exporter's v3
    path the same garbage as the legacy one.
    """
    by_name = {**table, **aliases}

    def encode(value: object) -> object:
        if isinstance(value, str):
            if value in by_name:
                return by_name[value]
            if value.isascii() and value.isdigit() and len(value) < 10:
                return int(value)
        return value

    return encode


_ENCODE_TYPE: Final = _encoder(JOB_TYPE_CODES)
_ENCODE_MODULE: Final = _encoder(JOB_MODULE_CODES)
_ENCODE_STATUS: Final = _encoder(JOB_STATUS_CODES, **{"Not Finished": V3_NEVER_RUN_STATUS})
_ENCODE_CUSTOMER_STATUS: Final = _encoder(CUSTOMER_STATUS_CODES)


def legacy_job_row(row: dict[str, object]) -> dict[str, object]:
    """A job row with the legacy spellings of its type and module (pinned oddities pass as they are)."""
    job_type, job_module = row.get("jobType"), row.get("jobModule")
    legacy_type = _LEGACY_TYPE.get(job_type) if isinstance(job_type, str) else None
    legacy_module = LEGACY_MODULE.get(job_module) if isinstance(job_module, str) else None
    if legacy_type is None and legacy_module is None:
        return row
    out = dict(row)
    if legacy_type is not None:
        out["jobType"] = legacy_type
    if legacy_module is not None:
        out["jobModule"] = legacy_module
    return out


def v3_job_row(row: dict[str, object]) -> dict[str, object]:
    """A job row with v3 codes for its type, module and status (pinned oddities pass as they are)."""
    out = dict(row)
    for key, encode in (("jobType", _ENCODE_TYPE), ("jobModule", _ENCODE_MODULE), ("status", _ENCODE_STATUS)):
        if key in out:
            out[key] = encode(out[key])
    return out


def v3_customer(customer: Customer) -> dict[str, object]:
    """A customer as v3's `customers/batch` lists it: its status a code, its management mode and tenants."""
    record = customer.record
    return {
        "id": record["id"],
        "organization": record["organization"],
        "ownerEmail": record["ownerEmail"],
        "jobStatus": _ENCODE_CUSTOMER_STATUS(record["jobStatus"]),
        "countryOrRegion": record["countryOrRegion"],
        "managementMode": customer.management_mode,
        "tenants": [
            {"id": tenant_id, "name": name}
            for tenant_id, name in zip(customer.tenant_ids, customer.tenant_names, strict=True)
        ],
    }

"""AvePoint's vocabulary, which every layer shares: the Elements API v3 integer codes and their names (one
table per field, used both ways), the canonical spelling of job types and modules, and status lookup keys."""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "CUSTOMER_STATUSES",
    "JOB_MODULES",
    "JOB_STATUSES",
    "JOB_TYPES",
    "LEGACY_JOB_MODULES",
    "LEGACY_JOB_TYPES",
    "MANAGEMENT_MODES",
    "MAX_CODE",
    "SCAN_STATUSES",
    "Outcome",
    "canonical_job_module",
    "canonical_job_type",
    "code",
    "job_kind",
    "legacy_job_module",
    "legacy_job_type",
    "name",
    "normalize_status",
]

# Copied from AvePoint's v3 reference (see avepoint-api.md); names are spelled as documented there.
JOB_TYPES: Mapping[int, str] = MappingProxyType(
    {
        0: "Microsoft 365 Scan",
        7: "Microsoft 365",
        10: "Google Workspace Scan",
        11: "Google Workspace",
        12: "IaaS + PaaS",
        15: "Salesforce",
        16: "Dynamics 365",
    }
)

JOB_MODULES: Mapping[int, str] = MappingProxyType(
    {
        0: "None",
        8: "Archiver",
        10: "Retention",
        302: "SharePoint Online",
        303: "Exchange Online",
        304: "Microsoft 365 Groups",
        305: "OneDrive",
        306: "Project Online",
        307: "Exchange Online Public Folder",
        308: "Microsoft Teams",
        309: "Teams Chat",
        310: "Power BI",
        311: "Power Automate",
        312: "Power Apps",
        355: "Cloud Backup for Azure",
        356: "Azure Virtual Machine",
        357: "Disk",
        358: "Microsoft Entra ID",
        359: "Storage",
        360: "Admin Portal Settings",
        361: "Amazon EC2",
        362: "Native Azure SQL Backup Monitoring",
        363: "Dev Ops",
        364: "Microsoft Entra ID B2C",
        365: "Azure SQL Backup",
        366: "Google Virtual Machine Instance",
        367: "Azure VMware Solution",
        368: "Microsoft SQL Server in Azure VM",
        369: "Google Cloud Storage",
        370: "Cosmos DB",
        371: "Azure PostgreSQL",
        401: "Dynamics 365",
        402: "Viva Engage",
        501: "Gmail",
        502: "Calendar",
        503: "Contacts",
        504: "Drive",
        505: "Shared Drives",
        506: "Google Classroom",
        507: "Chat",
        508: "Google Directory",
        550: "Dynamics CRM Backup",
        551: "Dynamics Unified Operations Backup",
    }
)

JOB_STATUSES: Mapping[int, str] = MappingProxyType(
    {
        0: "None",
        1: "Running",
        2: "Finished",
        3: "Failed",
        4: "Finished with exception",
        5: "Skipped",
        6: "Pending",
        7: "Failed to start",
        8: "Canceled",
        9: "Rejected",
        10: "Stopped",
        11: "Not scanned",
        12: "Disabled",
        13: "Not started",
        14: "Waiting for configuration",
    }
)

# `lastScanStatus` of a scan profile, in both generations an integer: the v3 page's list
# (AvePoint/cloud-api docs/elements/general/job/get-customer-scan-profile-changes.md; the legacy
# docs/docs/services-and-features/elements/scan-profiles/daily-scan-profile-changes.md lists 1-5 and 10 with
# the same meanings, "In progress" for 1). The codes are the job statuses' and so are the names, which the
# page spells alike but for 7 "Failed to tart" (a typo) and 14 "Wait for configuration": both are given the
# job table's names, so that one status reads one way in every series and maps to one outcome.
SCAN_STATUSES: Mapping[int, str] = JOB_STATUSES

# The `jobStatus` of a customer: a summary over its jobs, with its own table.
CUSTOMER_STATUSES: Mapping[int, str] = MappingProxyType(
    {
        0: "N/A",
        1: "Working",
        2: "Failed",
        3: "Waiting for configuration",
        4: "Multiple issues found",
        5: "Finished with exception",
        6: "No backup updates",
    }
)

# Spelled as the reference spells them: AvePoint/cloud-api docs/elements/general/customer/get-all-customers.md.
MANAGEMENT_MODES: Mapping[int, str] = MappingProxyType(
    {
        0: "Customer management of tenant",
        1: "Partner management of tenant",
        2: "To be configured",
    }
)

# The `type` of a tenant on the user-seats route, as the reference spells it (AvePoint/cloud-api
# docs/elements/general/tenant/get-3rd-party-products-tenant-type.md: the path's {type} and the answer's `type`).
TENANT_TYPES: Mapping[int, str] = MappingProxyType(
    {
        0: "Microsoft 365",
        1: "Salesforce",
        2: "Google",
        3: "Dynamics 365",
    }
)

# One job, one series on either API generation: the canonical spelling of a job type or module is
# the v3 table's (the documented successor, and the only complete list); these are the legacy
# spellings of the same things. Sources: AvePoint/elements-samples powershell/docs/ElementsCustomersApi.md
# (Get-ElementsCustomerJob, "Supported job module values") and the legacy samples of AvePoint/cloud-api
# docs/docs/services-and-features/elements/. Pairs that rest on a product rename rather than on a
# document saying so: Yammer = Viva Engage, Active Directory = Microsoft Entra ID,
# Dynamics Customer Engagement = Dynamics CRM Backup (see the README's upstream assumptions).
LEGACY_JOB_TYPES: Mapping[str, str] = MappingProxyType({"Azure": "IaaS + PaaS"})
LEGACY_JOB_MODULES: Mapping[str, str] = MappingProxyType(
    {
        "Microsoft 365 Group": "Microsoft 365 Groups",
        "OneDrive for Business": "OneDrive",
        "Exchange Online Public Folders": "Exchange Online Public Folder",
        "Microsoft Teams Chat": "Teams Chat",
        "Yammer": "Viva Engage",
        "Virtual Machine": "Azure Virtual Machine",
        "Active Directory": "Microsoft Entra ID",
        "Admin Portal Setting": "Admin Portal Settings",
        "Dynamics Customer Engagement": "Dynamics CRM Backup",
        "Dynamics Unified Operations": "Dynamics Unified Operations Backup",
    }
)

# .NET enums are 32-bit; anything wider is corruption, and str() of a huge int can even raise.
MAX_CODE = 2**31 - 1
_DECIMAL = re.compile(r"-?[0-9]+")
_SPACES = re.compile(r"\s+")


def name(table: Mapping[int, str], raw: int) -> str:
    """The documented name of a code, or the code as a decimal string when the table lacks it."""
    return table.get(raw, str(raw))


def _key(text: str) -> str:
    return _SPACES.sub(" ", text.strip()).casefold()


def code(table: Mapping[int, str], text: str) -> int | None:
    """The code of a name (case and spacing ignored) or of a decimal string such as "601"; else None.

    The decimal form lets configuration select what the exporter shows for an unknown code.
    """
    wanted = _key(text)
    for number, spelled in table.items():
        if _key(spelled) == wanted:
            return number
    stripped = text.strip()
    if _DECIMAL.fullmatch(stripped) and len(stripped) <= 11 and abs(int(stripped)) <= MAX_CODE:
        return int(stripped)
    return None


def _canonical_table(table: Mapping[int, str], legacy: Mapping[str, str]) -> dict[str, str]:
    out = {_key(spelled): spelled for spelled in table.values()}
    out.update({_key(old): new for old, new in legacy.items()})
    return out


_CANONICAL_TYPES: Final = _canonical_table(JOB_TYPES, LEGACY_JOB_TYPES)
_CANONICAL_MODULES: Final = _canonical_table(JOB_MODULES, LEGACY_JOB_MODULES)
_LEGACY_TYPES: Final = {new: old for old, new in LEGACY_JOB_TYPES.items()}
_LEGACY_MODULES: Final = {new: old for old, new in LEGACY_JOB_MODULES.items()}


def canonical_job_type(text: str) -> str:
    """The canonical spelling of a job type given in either dialect (case and spacing ignored).

    A name neither dialect documents is passed through as sent: it is still a job.
    """
    return _CANONICAL_TYPES.get(_key(text), text)


def canonical_job_module(text: str) -> str:
    """The canonical spelling of a job module given in either dialect; unknown names as sent."""
    return _CANONICAL_MODULES.get(_key(text), text)


def legacy_job_type(text: str) -> str:
    """The spelling the legacy route wants in its path for a job type given in either dialect."""
    canonical = canonical_job_type(text)
    return _LEGACY_TYPES.get(canonical, canonical)


def legacy_job_module(text: str) -> str:
    """The spelling the legacy route wants in its path for a job module given in either dialect."""
    canonical = canonical_job_module(text)
    return _LEGACY_MODULES.get(canonical, canonical)


# v3 lists more than backups in the jobs answer (docs/elements/general/job/get-customer-jobs.md): discovery
# scans as their own job types, and the Archiver and Retention modules. Legacy "DOR" (Microsoft 365 /
# Google Workspace Discovery, AvePoint/elements-samples powershell/docs/ElementsCustomersApi.md) is taken
# to be the same scans under their old name.
KIND_BACKUP, KIND_SCAN, KIND_ARCHIVER, KIND_RETENTION = "backup", "scan", "archiver", "retention"
_SCAN_TYPES: Final = frozenset(_key(t) for t in ("Microsoft 365 Scan", "Google Workspace Scan", "DOR"))
_MODULE_KINDS: Final = {_key("Archiver"): KIND_ARCHIVER, _key("Retention"): KIND_RETENTION}


@functools.lru_cache(maxsize=4096)  # a fleet has a few dozen (type, module) pairs; renders ask per job
def job_kind(job_type: str, job_module: str) -> str:
    """What a job does: "backup", "scan", "archiver" or "retention". Anything not known otherwise is a backup.

    A backup is the default so that a new, unknown job type is watched by the backup alerts rather
    than silently left out of them.
    """
    if _key(job_type) in _SCAN_TYPES:
        return KIND_SCAN
    return _MODULE_KINDS.get(_key(job_module), KIND_BACKUP)


_STATUS_SEPARATORS = re.compile(r"[\s_-]+")


def normalize_status(status: str) -> str:
    """A status as a lookup key: case folded, each run of spaces, underscores and hyphens as one space."""
    return _STATUS_SEPARATORS.sub(" ", status.casefold()).strip()


class Outcome(enum.StrEnum):
    """What a job status means for someone on call; the `outcome` label."""

    SUCCESS = "success"
    WARNING = "warning"
    FAILED = "failed"
    RUNNING = "running"
    CANCELED = "canceled"
    NOT_RUN = "not_run"
    UNKNOWN = "unknown"

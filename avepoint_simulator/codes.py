"""The Elements API v3 integer codes the simulator sends, by the name it encodes (as AvePoint documents them).

Transcribed from AvePoint/cloud-api docs/elements/general/ (job/get-customer-jobs.md for job types, modules
and statuses; customer/get-all-customers.md for a customer's jobStatus), names spelled exactly as there.
The simulator's rows carry names; these tables turn them into what v3 sends. They are the simulator's own,
not the exporter's, so that a test of the exporter's decoding does not check the table against itself;
tests/unit/simulator/test_codes.py says where the two differ. Every documented code is here, not only
those the synthetic fleet draws: tests pin rows of any documented job (a scan, Archiver, Viva Engage).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

JOB_TYPE_CODES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "Microsoft 365 Scan": 0,
        "Microsoft 365": 7,
        "Google Workspace Scan": 10,
        "Google Workspace": 11,
        "IaaS + PaaS": 12,
        "Salesforce": 15,
        "Dynamics 365": 16,
    }
)

JOB_MODULE_CODES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "None": 0,
        "Archiver": 8,
        "Retention": 10,
        "SharePoint Online": 302,
        "Exchange Online": 303,
        "Microsoft 365 Groups": 304,
        "OneDrive": 305,
        "Project Online": 306,
        "Exchange Online Public Folder": 307,
        "Microsoft Teams": 308,
        "Teams Chat": 309,
        "Power BI": 310,
        "Power Automate": 311,
        "Power Apps": 312,
        "Cloud Backup for Azure": 355,
        "Azure Virtual Machine": 356,
        "Disk": 357,
        "Microsoft Entra ID": 358,
        "Storage": 359,
        "Admin Portal Settings": 360,
        "Amazon EC2": 361,
        "Native Azure SQL Backup Monitoring": 362,
        "Dev Ops": 363,
        "Microsoft Entra ID B2C": 364,
        "Azure SQL Backup": 365,
        "Google Virtual Machine Instance": 366,
        "Azure VMware Solution": 367,
        "Microsoft SQL Server in Azure VM": 368,
        "Google Cloud Storage": 369,
        "Cosmos DB": 370,
        "Azure PostgreSQL": 371,
        "Dynamics 365": 401,
        "Viva Engage": 402,
        "Gmail": 501,
        "Calendar": 502,
        "Contacts": 503,
        "Drive": 504,
        "Shared Drives": 505,
        "Google Classroom": 506,
        "Chat": 507,
        "Google Directory": 508,
        "Dynamics CRM Backup": 550,
        "Dynamics Unified Operations Backup": 551,
    }
)

JOB_STATUS_CODES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "None": 0,
        "Running": 1,
        "Finished": 2,
        "Failed": 3,
        "Finished with exception": 4,
        "Skipped": 5,
        "Pending": 6,
        "Failed to start": 7,
        "Canceled": 8,
        "Rejected": 9,
        "Stopped": 10,
        "Not scanned": 11,
        "Disabled": 12,
        "Not started": 13,
        "Waiting for configuration": 14,
    }
)

# The `jobStatus` of a customer: a summary over its jobs, with its own table.
CUSTOMER_STATUS_CODES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "N/A": 0,
        "Working": 1,
        "Failed": 2,
        "Waiting for configuration": 3,
        "Multiple issues found": 4,
        "Finished with exception": 5,
        "No backup updates": 6,
    }
)

# The documented legacy row of a module that never ran says "Not Finished", a status the v3
# table lacks; v3 sends 0 ("None") for it, the value a .NET enum has when nothing set it.
# Both give the outcome not_run: this is the one field where the two backends differ.
V3_NEVER_RUN_STATUS: Final = 0

# The tenant types of the user-seats route, path {type} and answer `type` (docs/elements/general/tenant/
# get-3rd-party-products-tenant-type.md).
TENANT_TYPE_CODES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "Microsoft 365": 0,
        "Salesforce": 1,
        "Google": 2,
        "Dynamics 365": 3,
    }
)

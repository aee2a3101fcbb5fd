"""The metric contract: every family the exposition holds, its name and HELP text, in exposition order.

Dashboards, alert rules and users depend on these names and label sets (design.md, "Metric contract"). The
families come in groups, one class each, in the order they are written; each group's docstring shows the
exposition it produces, its lines taken from tests/golden/exposition-full.prom (test_families.py checks
them against that file and this code). Every family is a gauge but the run counter (RunHistory), whose
`name` is its samples' name, `_total` included, as the classic format and the README write it (OpenMetrics
names the family without `_total`, see `Family.openmetrics_name`). A value the API sent as N/A is left out,
never written as 0. The encoders are in text.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

CACHE_NOTE = "Refreshed from the API at most once per cache.ttl."


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    help: str
    type: str = "gauge"  # or "counter"

    @property
    def openmetrics_name(self) -> str:
        """The family's name in OpenMetrics: a counter's without the `_total` its samples end in."""
        return self.name.removesuffix("_total") if self.type == "counter" else self.name


def _family(name: str, doc: str, cached: bool = True, kind: str = "gauge") -> Family:
    return Family(name, f"{doc} {CACHE_NOTE}" if cached else doc, kind)


class Group:
    """Families that are written one after the other; the docstring shows what they look like."""

    FAMILIES: ClassVar[tuple[Family, ...]]


class Refresh(Group):
    """Whether the exporter reaches the API, and how old each part of the data is.

    The exporter's own state, new every refresh cycle, so without the cache note. Fleet-wide samples have
    customer_id="" (the customer listing, and the services call with endpoints.services); each customer has
    one per endpoint switched on (seats: under v3 with endpoints.services).

        # HELP avepoint_up 1 while the exporter can authenticate and list customers (GET /partner/customers), else 0.
        # TYPE avepoint_up gauge
        avepoint_up 1.0
        # HELP avepoint_refresh_duration_seconds Time the last completed refresh cycle took (listing and every customer that was due).
        # TYPE avepoint_refresh_duration_seconds gauge
        avepoint_refresh_duration_seconds 0.25
        # HELP avepoint_refresh_success 1 if the last refresh of this endpoint (for this customer) worked, else 0.
        # TYPE avepoint_refresh_success gauge
        avepoint_refresh_success{customer_id="",endpoint="customers"} 1.0
        avepoint_refresh_success{customer_id="c-1",endpoint="jobs"} 1.0
        avepoint_refresh_success{customer_id="c-1",endpoint="protected"} 0.0
        avepoint_refresh_success{customer_id="c-3",endpoint="seats"} 1.0
        # HELP avepoint_refresh_last_success_timestamp_seconds When this endpoint (for this customer) was last refreshed successfully, Unix time: the age of the data served.
        # TYPE avepoint_refresh_last_success_timestamp_seconds gauge
        avepoint_refresh_last_success_timestamp_seconds{customer_id="",endpoint="customers"} 1.757562e+09
        avepoint_refresh_last_success_timestamp_seconds{customer_id="c-1",endpoint="jobs"} 1.757562001e+09
    """  # noqa: E501

    UP = _family(
        "avepoint_up",
        "1 while the exporter can authenticate and list customers (GET /partner/customers), else 0.",
        cached=False,
    )
    DURATION = _family(
        "avepoint_refresh_duration_seconds",
        "Time the last completed refresh cycle took (listing and every customer that was due).",
        cached=False,
    )
    SUCCESS = _family(
        "avepoint_refresh_success",
        "1 if the last refresh of this endpoint (for this customer) worked, else 0.",
        cached=False,
    )
    LAST_SUCCESS = _family(
        "avepoint_refresh_last_success_timestamp_seconds",
        "When this endpoint (for this customer) was last refreshed successfully, Unix time: the age of the data "
        "served.",
        cached=False,
    )
    FAMILIES = (UP, DURATION, SUCCESS, LAST_SUCCESS)


class Customers(Group):
    """The customers of the partner, as the listing names them; value 1.

    management_mode and the tenants come only with api.version v3.

        # HELP avepoint_customer_info A customer of the partner; value 1 (API fields id, organization, countryOrRegion, managementMode; the last only with api.version v3). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_customer_info gauge
        avepoint_customer_info{country="US",customer_id="c-3",management_mode="Partner management of tenant",organization="Woodgrove"} 1.0
        # HELP avepoint_customer_tenant_info A tenant of a customer; value 1 (API field tenants, api.version v3 only). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_customer_tenant_info gauge
        avepoint_customer_tenant_info{customer_id="c-3",tenant_id="t-1",tenant_name="wood.onmicrosoft.com"} 1.0
        # HELP avepoint_customer_status Job status of a customer as a whole, as the API spells it; value 1 (API field jobStatus). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_customer_status gauge
        avepoint_customer_status{customer_id="c-1",status="Working"} 1.0
    """  # noqa: E501

    INFO = _family(
        "avepoint_customer_info",
        "A customer of the partner; value 1 (API fields id, organization, countryOrRegion, managementMode; the "
        "last only with api.version v3).",
    )
    TENANT_INFO = _family(
        "avepoint_customer_tenant_info",
        "A tenant of a customer; value 1 (API field tenants, api.version v3 only).",
    )
    STATUS = _family(
        "avepoint_customer_status",
        "Job status of a customer as a whole, as the API spells it; value 1 (API field jobStatus).",
    )
    FAMILIES = (INFO, TENANT_INFO, STATUS)


class Protected(Group):
    """What Cloud Backup for Microsoft 365 protects, per service and module (endpoints.protected).

    Each value only where the API sent one; the data size once per storage, avepoint or byos.

        # HELP avepoint_protected_scanned_objects Objects scanned by Cloud Backup for Microsoft 365, per service and module (API field totalScannedObjects). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_protected_scanned_objects gauge
        avepoint_protected_scanned_objects{customer_id="c-3",module="Exchange Online",service="Microsoft 365"} 1200.0
        # HELP avepoint_protected_objects Objects protected by Cloud Backup for Microsoft 365, per service and module (API field totalProtectedObjects). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_protected_objects gauge
        avepoint_protected_objects{customer_id="c-3",module="Exchange Online",service="Microsoft 365"} 1100.0
        # HELP avepoint_protected_data_bytes Backup data size of the module's objects in the last job, in AvePoint's storage (storage=avepoint, API field dataSizeStoredInAvePoint) or the customer's own (storage=byos, dataSizeStoredInBYOS); binary multiples. Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_protected_data_bytes gauge
        avepoint_protected_data_bytes{customer_id="c-3",module="Exchange Online",service="Microsoft 365",storage="avepoint"} 5.36870912e+09
        avepoint_protected_data_bytes{customer_id="c-3",module="SharePoint Online",service="Microsoft 365",storage="byos"} 1.099511627776e+12
    """  # noqa: E501

    SCANNED = _family(
        "avepoint_protected_scanned_objects",
        "Objects scanned by Cloud Backup for Microsoft 365, per service and module (API field totalScannedObjects).",
    )
    OBJECTS = _family(
        "avepoint_protected_objects",
        "Objects protected by Cloud Backup for Microsoft 365, per service and module (API field "
        "totalProtectedObjects).",
    )
    # What the documentation says the size is: "The backup data size of objects in the last job" (AvePoint/
    # cloud-api docs/elements/general/job/get-customer-cloud-backup-m365-overview.md and the legacy
    # docs/docs/services-and-features/elements/data-protection/customers-protected.md), not all data kept.
    BYTES = _family(
        "avepoint_protected_data_bytes",
        "Backup data size of the module's objects in the last job, in AvePoint's storage (storage=avepoint, API "
        "field dataSizeStoredInAvePoint) or the customer's own (storage=byos, dataSizeStoredInBYOS); binary "
        "multiples.",
    )
    FAMILIES = (SCANNED, OBJECTS, BYTES)


class ScanProfiles(Group):
    """Each scan profile of a customer and its latest daily report (endpoints.scan_profiles): labels customer_id,
    profile_id.

    Info and status always (value 1); each time and count only where the API sent one.

        # HELP avepoint_scan_profile_info A scan profile of the customer; value 1 (API fields profileId, profileName). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_scan_profile_info gauge
        avepoint_scan_profile_info{customer_id="c-3",profile_id="sp-1",profile_name="Default Microsoft 365 Scan Profile"} 1.0
        # HELP avepoint_scan_profile_status Status of the profile's last scan job, as the API's code names it (API field lastScanStatus), and its outcome as for jobs: success, warning, failed, running, canceled, not_run or unknown; value 1. Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_scan_profile_status gauge
        avepoint_scan_profile_status{customer_id="c-3",outcome="failed",profile_id="sp-1",status="Failed"} 1.0
        avepoint_scan_profile_status{customer_id="c-3",outcome="success",profile_id="sp-2",status="Finished"} 1.0
        # HELP avepoint_scan_profile_last_update_timestamp_seconds When the profile's daily report was last generated, Unix time (API field lastUpdateTime; the profile's last change when no report was ever made). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_scan_profile_last_update_timestamp_seconds gauge
        avepoint_scan_profile_last_update_timestamp_seconds{customer_id="c-3",profile_id="sp-1"} 1.757548764e+09
        # HELP avepoint_scan_profile_modified_timestamp_seconds When the profile's settings last changed, Unix time (API field modifiedTime). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_scan_profile_modified_timestamp_seconds gauge
        avepoint_scan_profile_modified_timestamp_seconds{customer_id="c-3",profile_id="sp-1"} 1.757560754e+09
        # HELP avepoint_scan_profile_new_objects Objects newly registered in the profile's latest daily report (API field newRegisteredContentCount). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_scan_profile_new_objects gauge
        avepoint_scan_profile_new_objects{customer_id="c-3",profile_id="sp-1"} 12.0
        # HELP avepoint_scan_profile_moved_objects Objects moved to another container in the profile's latest daily report (API field movedToAnotherContainer). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_scan_profile_moved_objects gauge
        avepoint_scan_profile_moved_objects{customer_id="c-3",profile_id="sp-1"} 2.0
        # HELP avepoint_scan_profile_out_of_policy_objects Objects removed from Microsoft 365 or out of policy in the profile's latest daily report (API field removedFromMicrosoft365OrOutofPolicy). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_scan_profile_out_of_policy_objects gauge
        avepoint_scan_profile_out_of_policy_objects{customer_id="c-3",profile_id="sp-1"} 0.0
    """  # noqa: E501

    INFO = _family(
        "avepoint_scan_profile_info",
        "A scan profile of the customer; value 1 (API fields profileId, profileName).",
    )
    STATUS = _family(
        "avepoint_scan_profile_status",
        "Status of the profile's last scan job, as the API's code names it (API field lastScanStatus), and its "
        "outcome as for jobs: success, warning, failed, running, canceled, not_run or unknown; value 1.",
    )
    # (family, ScanProfile attribute): left out where the API sent N/A or nothing.
    VALUES: tuple[tuple[Family, str], ...] = (
        (
            _family(
                "avepoint_scan_profile_last_update_timestamp_seconds",
                "When the profile's daily report was last generated, Unix time (API field lastUpdateTime; the "
                "profile's last change when no report was ever made).",
            ),
            "last_update",
        ),
        (
            _family(
                "avepoint_scan_profile_modified_timestamp_seconds",
                "When the profile's settings last changed, Unix time (API field modifiedTime).",
            ),
            "modified",
        ),
        (
            _family(
                "avepoint_scan_profile_new_objects",
                "Objects newly registered in the profile's latest daily report (API field newRegisteredContentCount).",
            ),
            "new_objects",
        ),
        (
            _family(
                "avepoint_scan_profile_moved_objects",
                "Objects moved to another container in the profile's latest daily report (API field "
                "movedToAnotherContainer).",
            ),
            "moved_objects",
        ),
        (
            _family(
                "avepoint_scan_profile_out_of_policy_objects",
                "Objects removed from Microsoft 365 or out of policy in the profile's latest daily report (API field "
                "removedFromMicrosoft365OrOutofPolicy).",
            ),
            "out_of_policy_objects",
        ),
    )
    FAMILIES = (INFO, STATUS, *(family for family, _ in VALUES))


class Subscriptions(Group):
    """The customers' subscriptions, per service (endpoints.services); one gauge per field the API sent.

    The golden file's subscription has no purchased units or protected capacity: those two show no sample.

        # HELP avepoint_subscription_expiry_timestamp_seconds When the subscription expires, Unix time (API field expirationDate; a date is midnight UTC). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_subscription_expiry_timestamp_seconds gauge
        avepoint_subscription_expiry_timestamp_seconds{customer_id="c-3",service="Cloud Backup for Microsoft 365",subscription="CB-365 Standard"} 1.7672256e+09
        # HELP avepoint_subscription_purchased_seats User seats purchased (API field purchasedUserSeats). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_subscription_purchased_seats gauge
        avepoint_subscription_purchased_seats{customer_id="c-3",service="Cloud Backup for Microsoft 365",subscription="CB-365 Standard"} 250.0
        # HELP avepoint_subscription_purchased_units Units purchased (API field purchasedUnits). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_subscription_purchased_units gauge
        # HELP avepoint_subscription_licenses_assigned Microsoft licenses assigned (API field microsoftLicenseAssigned). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_subscription_licenses_assigned gauge
        avepoint_subscription_licenses_assigned{customer_id="c-3",service="Cloud Backup for Microsoft 365",subscription="CB-365 Standard"} 240.0
        # HELP avepoint_subscription_licenses_available Microsoft licenses available (API field microsoftLicenseAvailable). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_subscription_licenses_available gauge
        avepoint_subscription_licenses_available{customer_id="c-3",service="Cloud Backup for Microsoft 365",subscription="CB-365 Standard"} 10.0
        # HELP avepoint_subscription_capacity_purchased_bytes Storage capacity purchased (API field purchasedCapacity, the total of a used/total value); binary multiples. Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_subscription_capacity_purchased_bytes gauge
        avepoint_subscription_capacity_purchased_bytes{customer_id="c-3",service="Cloud Backup for Microsoft 365",subscription="CB-365 Standard"} 1.099511627776e+12
        # HELP avepoint_subscription_capacity_protected_bytes Protected capacity (API field protectedCapacity); binary multiples. Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_subscription_capacity_protected_bytes gauge
        # HELP avepoint_subscription_capacity_consumed_bytes Storage consumed (API field consumedStorage; left out where it is N/A); binary multiples. Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_subscription_capacity_consumed_bytes gauge
        avepoint_subscription_capacity_consumed_bytes{customer_id="c-3",service="Cloud Backup for Microsoft 365",subscription="CB-365 Standard"} 5.49755813888e+11
    """  # noqa: E501

    # (family, Subscription attribute): the subscription gauges, left out where the API sent N/A.
    VALUES: tuple[tuple[Family, str], ...] = (
        (
            _family(
                "avepoint_subscription_expiry_timestamp_seconds",
                "When the subscription expires, Unix time (API field expirationDate; a date is midnight UTC).",
            ),
            "expiry",
        ),
        (
            _family("avepoint_subscription_purchased_seats", "User seats purchased (API field purchasedUserSeats)."),
            "purchased_seats",
        ),
        (
            _family("avepoint_subscription_purchased_units", "Units purchased (API field purchasedUnits)."),
            "purchased_units",
        ),
        (
            _family(
                "avepoint_subscription_licenses_assigned",
                "Microsoft licenses assigned (API field microsoftLicenseAssigned).",
            ),
            "licenses_assigned",
        ),
        (
            _family(
                "avepoint_subscription_licenses_available",
                "Microsoft licenses available (API field microsoftLicenseAvailable).",
            ),
            "licenses_available",
        ),
        (
            _family(
                "avepoint_subscription_capacity_purchased_bytes",
                "Storage capacity purchased (API field purchasedCapacity, the total of a used/total value); binary "
                "multiples.",
            ),
            "capacity_purchased_bytes",
        ),
        (
            _family(
                "avepoint_subscription_capacity_protected_bytes",
                "Protected capacity (API field protectedCapacity); binary multiples.",
            ),
            "capacity_protected_bytes",
        ),
        (
            _family(
                "avepoint_subscription_capacity_consumed_bytes",
                "Storage consumed (API field consumedStorage; left out where it is N/A); binary multiples.",
            ),
            "consumed_bytes",
        ),
    )
    FAMILIES = tuple(family for family, _ in VALUES)


class Seats(Group):
    """The user seats of each tenant of a customer (endpoints.services, v3 only: the legacy routes have none).

    From v3's `customers/{customerId}/3rd-party-products/type/{type}/tenants/batch` (AvePoint/cloud-api
    docs/elements/general/tenant/get-3rd-party-products-tenant-type.md), asked once per tenant type;
    tenant_type as the page names the type: Microsoft 365, Salesforce, Google or Dynamics 365. Each
    value only where the API sent one.

        # HELP avepoint_tenant_user_seats_assigned User seats assigned in the tenant (API field assignedUserSeat; v3 only, the legacy API has no seats). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_tenant_user_seats_assigned gauge
        avepoint_tenant_user_seats_assigned{customer_id="c-3",tenant_id="t-1",tenant_name="wood.onmicrosoft.com",tenant_type="Microsoft 365"} 240.0
        # HELP avepoint_tenant_user_seats_available User seats of the tenant still available, not assigned (API field availableUserSeat; v3 only, the legacy API has no seats). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_tenant_user_seats_available gauge
        avepoint_tenant_user_seats_available{customer_id="c-3",tenant_id="t-1",tenant_name="wood.onmicrosoft.com",tenant_type="Microsoft 365"} 10.0
    """  # noqa: E501

    ASSIGNED = _family(
        "avepoint_tenant_user_seats_assigned",
        "User seats assigned in the tenant (API field assignedUserSeat; v3 only, the legacy API has no seats).",
    )
    # "The number of available user seats of the tenant" (the page): read as the seats still free, like the
    # services' microsoftLicenseAvailable beside microsoftLicenseAssigned; see the README's open questions.
    AVAILABLE = _family(
        "avepoint_tenant_user_seats_available",
        "User seats of the tenant still available, not assigned (API field availableUserSeat; v3 only, the legacy "
        "API has no seats).",
    )
    FAMILIES = (ASSIGNED, AVAILABLE)


class Jobs(Group):
    """The latest job of each customer, job type and module: labels customer_id, job_type, job_module.

    Status, info and kind are always there (value 1); each number only where the API sent one.

        # HELP avepoint_backup_job_status Status of the latest job, as the API spells it (API field status), and its outcome: success, warning, failed, running, canceled, not_run or unknown; value 1. Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_status gauge
        avepoint_backup_job_status{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365",outcome="warning",status="Finished with exception"} 1.0
        avepoint_backup_job_status{customer_id="c-1",job_module="SharePoint Online",job_type="Microsoft 365",outcome="not_run",status="Not Finished"} 1.0
        # HELP avepoint_backup_job_info Id and name of the latest job (API fields jobId, name; empty when no job ran); value 1. Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_info gauge
        avepoint_backup_job_info{customer_id="c-1",job_id="job-1",job_module="Exchange Online",job_name="Daily mail",job_type="Microsoft 365"} 1.0
        avepoint_backup_job_info{customer_id="c-1",job_id="",job_module="SharePoint Online",job_name="",job_type="Microsoft 365"} 1.0
        # HELP avepoint_backup_job_kind What the job does: kind is backup, scan (Microsoft 365 Scan, Google Workspace Scan), archiver or retention (v3 lists these in the same answer); value 1. Backup alerts and ratios leave out kind!="backup". Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_kind gauge
        avepoint_backup_job_kind{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365",kind="backup"} 1.0
        # HELP avepoint_backup_job_objects Objects processed by the latest job (API field totalCount). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_objects gauge
        avepoint_backup_job_objects{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 120.0
        # HELP avepoint_backup_job_failed_objects Objects that failed in the latest job (API field failedCount). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_failed_objects gauge
        avepoint_backup_job_failed_objects{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 0.0
        # HELP avepoint_backup_job_successful_objects Objects backed up successfully by the latest job (API field successfulCount). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_successful_objects gauge
        avepoint_backup_job_successful_objects{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 118.0
        # HELP avepoint_backup_job_skipped_objects Objects skipped by the latest job (API field skippedCount). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_skipped_objects gauge
        avepoint_backup_job_skipped_objects{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 1.0
        # HELP avepoint_backup_job_warning_objects Objects with warnings in the latest job (API field warningCount). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_warning_objects gauge
        avepoint_backup_job_warning_objects{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 1.0
        # HELP avepoint_backup_job_size_bytes Data backed up by the latest job (API field backupSize; KB, MB, GB, TB taken as binary multiples, 1 GB = 2^30 bytes). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_size_bytes gauge
        avepoint_backup_job_size_bytes{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 1.610612736e+09
        # HELP avepoint_backup_job_duration_seconds Duration of the latest job (API field jobDuration). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_duration_seconds gauge
        avepoint_backup_job_duration_seconds{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 1059.0
        # HELP avepoint_backup_job_start_timestamp_seconds Start of the latest job, Unix time (API field startTime). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_start_timestamp_seconds gauge
        avepoint_backup_job_start_timestamp_seconds{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 1.757560876e+09
        # HELP avepoint_backup_job_end_timestamp_seconds End of the latest job, Unix time (API field endTime). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_end_timestamp_seconds gauge
        avepoint_backup_job_end_timestamp_seconds{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 1.757561935e+09
        # HELP avepoint_backup_job_last_modified_timestamp_seconds Last change of the latest job's row, Unix time (API field lastModifyTime). Refreshed from the API at most once per cache.ttl.
        # TYPE avepoint_backup_job_last_modified_timestamp_seconds gauge
        avepoint_backup_job_last_modified_timestamp_seconds{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 1.757561935e+09
    """  # noqa: E501

    STATUS = _family(
        "avepoint_backup_job_status",
        "Status of the latest job, as the API spells it (API field status), and its outcome: success, warning, "
        "failed, running, canceled, not_run or unknown; value 1.",
    )
    INFO = _family(
        "avepoint_backup_job_info",
        "Id and name of the latest job (API fields jobId, name; empty when no job ran); value 1.",
    )
    # Beside the job families rather than a label on them, so every existing series keeps its label set.
    KIND = _family(
        "avepoint_backup_job_kind",
        "What the job does: kind is backup, scan (Microsoft 365 Scan, Google Workspace Scan), archiver or "
        'retention (v3 lists these in the same answer); value 1. Backup alerts and ratios leave out kind!="backup".',
    )
    # (family, Job attribute): the numeric job gauges, left out where the API sent N/A.
    VALUES: tuple[tuple[Family, str], ...] = (
        (
            _family("avepoint_backup_job_objects", "Objects processed by the latest job (API field totalCount)."),
            "objects",
        ),
        (
            _family(
                "avepoint_backup_job_failed_objects", "Objects that failed in the latest job (API field failedCount)."
            ),
            "failed_objects",
        ),
        (
            _family(
                "avepoint_backup_job_successful_objects",
                "Objects backed up successfully by the latest job (API field successfulCount).",
            ),
            "successful_objects",
        ),
        (
            _family(
                "avepoint_backup_job_skipped_objects", "Objects skipped by the latest job (API field skippedCount)."
            ),
            "skipped_objects",
        ),
        (
            _family(
                "avepoint_backup_job_warning_objects",
                "Objects with warnings in the latest job (API field warningCount).",
            ),
            "warning_objects",
        ),
        (
            _family(
                "avepoint_backup_job_size_bytes",
                "Data backed up by the latest job (API field backupSize; KB, MB, GB, TB taken as binary multiples, "
                "1 GB = 2^30 bytes).",
            ),
            "size_bytes",
        ),
        (
            _family("avepoint_backup_job_duration_seconds", "Duration of the latest job (API field jobDuration)."),
            "duration_seconds",
        ),
        (
            _family(
                "avepoint_backup_job_start_timestamp_seconds",
                "Start of the latest job, Unix time (API field startTime).",
            ),
            "start_time",
        ),
        (
            _family(
                "avepoint_backup_job_end_timestamp_seconds", "End of the latest job, Unix time (API field endTime)."
            ),
            "end_time",
        ),
        (
            _family(
                "avepoint_backup_job_last_modified_timestamp_seconds",
                "Last change of the latest job's row, Unix time (API field lastModifyTime).",
            ),
            "last_modified",
        ),
    )
    FAMILIES = (STATUS, INFO, KIND, *(family for family, _ in VALUES))


class Staleness(Group):
    """What the alerts judge a job's age by: the exporter's memory and its config, not the API's answer.

    The last success once one was seen for the job; the expected interval for every job.

        # HELP avepoint_backup_job_last_success_timestamp_seconds End of the newest job with outcome success or warning this exporter has seen, Unix time; kept across job runs and, with state_file, across restarts.
        # TYPE avepoint_backup_job_last_success_timestamp_seconds gauge
        avepoint_backup_job_last_success_timestamp_seconds{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 1.757561935e+09
        # HELP avepoint_backup_job_expected_interval_seconds How often this job should succeed (config jobs.expected_interval and its overrides); for staleness alerts.
        # TYPE avepoint_backup_job_expected_interval_seconds gauge
        avepoint_backup_job_expected_interval_seconds{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 3600.0
        avepoint_backup_job_expected_interval_seconds{customer_id="c-1",job_module="SharePoint Online",job_type="Microsoft 365"} 86400.0
    """  # noqa: E501

    LAST_SUCCESS = _family(
        "avepoint_backup_job_last_success_timestamp_seconds",
        "End of the newest job with outcome success or warning this exporter has seen, Unix time; kept across job "
        "runs and, with state_file, across restarts.",
        cached=False,
    )
    EXPECTED = _family(
        "avepoint_backup_job_expected_interval_seconds",
        "How often this job should succeed (config jobs.expected_interval and its overrides); for staleness alerts.",
        cached=False,
    )
    FAMILIES = (LAST_SUCCESS, EXPECTED)


class RunHistory(Group):
    """The runs of each job this exporter has seen finish, counted per outcome (exporter/refresh/runs.py).

    Every job has all five outcomes from its first sight, at 0 until a run is counted, so that increase()
    sees the first run; the seen-since gauge tells from when the counts are complete.

        # HELP avepoint_backup_job_runs_total Finished runs of this job the exporter has seen, per outcome (success, warning, failed, canceled, unknown); a run (job id and start time) counts once, at its outcome when first seen finished. Runs are seen at each refresh: a run is missed only if a newer run of the same module replaces it before the next refresh, so none is while refreshes (every cache.ttl, when scraped at least that often) come more often than the pause between one run's end and the next run's start. A finished run the first sight of a job shows is not counted; counts start at 0 when the exporter starts (use increase()).
        # TYPE avepoint_backup_job_runs_total counter
        avepoint_backup_job_runs_total{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365",outcome="success"} 3.0
        avepoint_backup_job_runs_total{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365",outcome="warning"} 1.0
        avepoint_backup_job_runs_total{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365",outcome="failed"} 2.0
        avepoint_backup_job_runs_total{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365",outcome="canceled"} 0.0
        avepoint_backup_job_runs_total{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365",outcome="unknown"} 0.0
        # HELP avepoint_backup_job_runs_seen_since_timestamp_seconds Since when this exporter counts the runs of this job (its first sight), Unix time; with state_file kept across restarts, which then count no run twice.
        # TYPE avepoint_backup_job_runs_seen_since_timestamp_seconds gauge
        avepoint_backup_job_runs_seen_since_timestamp_seconds{customer_id="c-1",job_module="Exchange Online",job_type="Microsoft 365"} 1.7573e+09
    """  # noqa: E501

    RUNS = _family(
        "avepoint_backup_job_runs_total",
        "Finished runs of this job the exporter has seen, per outcome (success, warning, failed, canceled, "
        "unknown); a run (job id and start time) counts once, at its outcome when first seen finished. Runs are "
        "seen at each refresh: a run is missed only if a newer run of the same module replaces it before the next "
        "refresh, so none is while refreshes (every cache.ttl, when scraped at least that often) come more often "
        "than the pause between one run's end and the next run's start. A finished run the first sight of a job "
        "shows is not counted; counts start at 0 when the exporter starts (use increase()).",
        cached=False,
        kind="counter",
    )
    SEEN_SINCE = _family(
        "avepoint_backup_job_runs_seen_since_timestamp_seconds",
        "Since when this exporter counts the runs of this job (its first sight), Unix time; with state_file kept "
        "across restarts, which then count no run twice.",
        cached=False,
    )
    FAMILIES = (RUNS, SEEN_SINCE)


GROUPS: tuple[type[Group], ...] = (
    Refresh,
    Customers,
    Protected,
    ScanProfiles,
    Subscriptions,
    Seats,
    Jobs,
    Staleness,
    RunHistory,
)
# Exposition order. Families a customer contributes to are split in two fragment kinds: the refresh state
# changes every cycle and is tiny; the job families are large and change only when the jobs do.
FAMILIES: tuple[Family, ...] = tuple(family for group in GROUPS for family in group.FAMILIES)
JOB_FAMILIES: tuple[Family, ...] = (*Jobs.FAMILIES, *Staleness.FAMILIES, *RunHistory.FAMILIES)

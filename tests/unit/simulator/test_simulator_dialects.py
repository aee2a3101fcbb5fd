"""The simulator speaks each API generation as AvePoint's pages document it (spellings, ids, values, errors)."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import requests

from avepoint_simulator import FleetSpec, Simulator
from tests.support.api import get, http, jobs_path, post, session

NOW = 1_760_000_000.0
# Legacy spellings: AvePoint/elements-samples powershell/docs/ElementsCustomersApi.md (Get-ElementsCustomerJob).
LEGACY_MODULES = {
    "SharePoint Online", "Exchange Online", "Microsoft 365 Group", "OneDrive for Business", "Project Online",
    "Exchange Online Public Folders", "Microsoft Teams", "Microsoft Teams Chat", "Yammer", "Power BI",
    "Power Automate", "Power Apps", "Gmail", "Calendar", "Contacts", "Drive", "Shared Drives", "Virtual Machine",
    "Active Directory", "Storage", "Admin Portal Setting", "Dynamics Customer Engagement",
    "Dynamics Unified Operations", "Salesforce",
}  # fmt: skip
# What the legacy list lacks and the simulator still serves: an IaaS + PaaS module only v3 names.
V3_ONLY = {"Azure SQL Backup"}
JOB_ID = re.compile(r"FB(\d{14})(\d{6})")


def fleet() -> Simulator:
    return Simulator(FleetSpec(customers=60, seed=1), clock=lambda: NOW)


def test_legacy_rows_spell_types_and_modules_as_the_legacy_docs() -> None:
    with fleet() as sim:
        rows = [row for cid in sim.customer_ids for row in sim.jobs(cid)]
        assert {r["jobType"] for r in rows} == {
            "Microsoft 365",
            "Google Workspace",
            "Azure",
            "Dynamics 365",
            "Salesforce",
        }
        modules = {str(r["jobModule"]) for r in rows}
        assert modules - V3_ONLY <= LEGACY_MODULES
        assert {"OneDrive for Business", "Microsoft 365 Group", "Virtual Machine", "Salesforce"} <= modules
        # The route for one module takes the legacy spelling in its path.
        cid, row = next((c, r) for c in sim.customer_ids for r in sim.jobs(c) if r["jobModule"] == "Virtual Machine")
        path = f"/partner/customers/{cid}/jobs/jobType/Azure/jobModule/{quote('Virtual Machine')}"
        assert get(session(sim), sim, path).json()["value"] == [row]


def test_v3_rows_send_integer_codes() -> None:
    with fleet() as sim:
        s = http(sim)
        for cid in sim.customer_ids[:10]:
            for row in post(s, sim, jobs_path(cid)).json()["data"]:
                assert all(type(row[k]) is int for k in ("jobType", "jobModule", "status"))


def test_job_ids_and_names_look_like_the_documented_ones() -> None:
    # AvePoint/cloud-api docs/elements/general/job/get-customer-jobs.md: "FB20****1103****214502" with startTime
    # 2025-09-11T03:21:16Z, name "N/A", status 3 (Failed) with failedCount "0".
    with fleet() as sim:
        ran = [r for cid in sim.customer_ids for r in sim.jobs(cid) if r["startTime"] != "N/A"]
        for row in ran:
            match = JOB_ID.fullmatch(str(row["jobId"]))
            assert match, row["jobId"]
            assert match.group(1) == time.strftime(
                "%Y%m%d%H%M%S", time.strptime(str(row["startTime"]), "%Y-%m-%dT%H:%M:%SZ")
            )
        assert any(r["name"] == "N/A" for r in ran) and any(r["name"] != "N/A" for r in ran)
    with Simulator(FleetSpec(customers=20), clock=lambda: NOW) as sim:
        failed = [
            r for day in range(60) for cid in sim.customer_ids for r in sim.jobs(cid, at=NOW + day * 86400.0)
            if r["status"] == "Failed"
        ]  # fmt: skip
        assert any(r["failedCount"] == "0" for r in failed)


def test_protected_data_names_the_service_as_documented() -> None:
    with fleet() as sim:
        rows = [r for cid in sim.customer_ids for r in sim.protected(cid)]
        assert {r["serviceType"] for r in rows} == {"Cloud Backup for Microsoft 365"}
        assert "Microsoft 365 Group" in {r["serviceModule"] for r in rows}  # as both samples spell it


def test_subscription_values_are_the_documented_ones() -> None:
    with fleet() as sim:
        products = [p for e in sim.services() for p in e["products"]]  # type: ignore[attr-defined]
        assert {p["storage"] for p in products} == {
            "AvePoint storage",
            "AvePoint storage (Microsoft Azure Blob)",
            "Bring your own storage",
        }
        assert all(p["retention"].startswith("Retain data for ") for p in products)
        assert {p["source"] for p in products} == {"AvePoint subscription", "AvePoint pooled subscription"}
        assert {p["paymentType"] for p in products} == {"Prepaid"}
        iaas = {p["service"] for p in products if "IaaS" in p["service"]}
        assert iaas <= {
            f"Cloud Backup for IaaS + PaaS - {kind}"
            for kind in ("Azure Storage", "Virtual Machine", "Amazon EC2", "Azure SQL", "Unit")
        }
        assert len(iaas) >= 3
        assert all("tenantId" in e for e in sim.services())
        assert not any("tenantId" in e for e in sim.services_v3())


def test_every_legacy_answer_carries_its_odata_context() -> None:
    with fleet() as sim:
        s = session(sim)
        cid = sim.customer_ids[0]
        row = sim.jobs(cid)[0]
        one_module = f"/partner/customers/{cid}/jobs/jobType/{quote(str(row['jobType']))}"
        one_module += f"/jobModule/{quote(str(row['jobModule']))}"
        paths = {
            "/partner/customers": "#Customers",
            f"/partner/customers/{cid}": "#Customers/$entity",
            f"/partner/customers/{cid}/jobs": "#Collection(Portal.Api.Model.BackUpJob)",
            one_module: "#Collection(Portal.Api.Model.BackUpJob)",
            f"/partner/customers/{cid}/protected": "#Collection(Portal.Api.Model.CustomerOverallProtected)",
            "/partner/services": "#Services",
        }
        for path, entity in paths.items():
            body = get(s, sim, path).json()
            assert body["@odata.context"].endswith("/partner/$metadata" + entity), path


def test_error_bodies_have_the_documented_shape() -> None:
    with fleet() as sim:
        response = requests.get(f"{sim.base_url}/partner/customers", timeout=5)
        assert response.status_code == 401
        body = response.json()
        assert set(body) == {"statusCode", "message", "errors", "requestId", "timestamp", "traceId"}
        assert body["statusCode"] == 401 and body["requestId"] == response.headers["request-id"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"])

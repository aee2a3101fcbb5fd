"""The simulator's v3 code tables and the exporter's were each written from AvePoint's reference: they agree.

They are kept apart on purpose (a test of the exporter's decoding must not check a table against itself),
so this is where a code added, renamed or mistyped on one side only shows.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from avepoint_simulator import V3_NEVER_RUN_STATUS, FleetSpec, Simulator, codes
from exporter import codes as product


@pytest.mark.parametrize(
    ("encodes", "decodes"),
    [
        (codes.JOB_TYPE_CODES, product.JOB_TYPES),
        (codes.JOB_MODULE_CODES, product.JOB_MODULES),
        (codes.JOB_STATUS_CODES, product.JOB_STATUSES),
        (codes.CUSTOMER_STATUS_CODES, product.CUSTOMER_STATUSES),
        (codes.TENANT_TYPE_CODES, product.TENANT_TYPES),
    ],
    ids=["job types", "job modules", "job statuses", "customer statuses", "tenant types"],
)
def test_the_simulator_encodes_as_the_exporter_decodes(encodes: Mapping[str, int], decodes: Mapping[int, str]) -> None:
    assert dict(encodes) == {name: number for number, name in decodes.items()}


def test_a_never_run_row_decodes_as_not_run() -> None:
    assert product.name(product.JOB_STATUSES, V3_NEVER_RUN_STATUS) == "None"


def test_every_name_the_fleet_sends_has_a_code() -> None:
    # Except Salesforce's module, which the catalog names by the undocumented code 601 on purpose.
    sim = Simulator(FleetSpec(customers=60, seed=1), clock=lambda: 1_760_000_000.0)
    rows = [row for cid in sim.customer_ids for row in sim.jobs_v3(cid)]
    assert all(isinstance(row[key], int) for row in rows for key in ("jobType", "jobModule", "status"))
    assert {row["jobModule"] for row in rows} - set(codes.JOB_MODULE_CODES.values()) == {601}
    assert all(isinstance(c["jobStatus"], int) for c in sim.customers_v3)

"""An AvePoint partner API on loopback, with a synthetic fleet and fault injection: the demo and the tests' upstream.

The modules, in the order a request meets them: server (the `Simulator`, its HTTP server), api (one request
to its answer), faults, identity (the token endpoint), routes, scenario (the fleet as scripted), rows and
dialects (what each route sends, legacy names or v3 codes), codes (the v3 tables), fleet (drawn from a seed).
It imports nothing from the exporter it tests.
"""

from avepoint_simulator.codes import V3_NEVER_RUN_STATUS
from avepoint_simulator.faults import Faults
from avepoint_simulator.fleet import JOB_CATALOG, FleetSpec
from avepoint_simulator.identity import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ELEMENTS_SCOPES, PARTNER_SCOPES
from avepoint_simulator.routes import (
    ROUTE_CUSTOMER,
    ROUTE_CUSTOMERS,
    ROUTE_JOBS,
    ROUTE_JOBS_BY_MODULE,
    ROUTE_PROTECTED,
    ROUTE_SERVICES,
    ROUTE_TOKEN,
    ROUTE_UNKNOWN,
    ROUTE_V3_CUSTOMERS,
    ROUTE_V3_JOBS,
    ROUTE_V3_PROTECTED,
    ROUTE_V3_SEATS,
    ROUTE_V3_SERVICES,
    V3_MAX_PAGE_SIZE,
)
from avepoint_simulator.rows import JOB_FIELDS
from avepoint_simulator.scenario import MISSING
from avepoint_simulator.server import Simulator

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "ELEMENTS_SCOPES",
    "JOB_CATALOG",
    "JOB_FIELDS",
    "MISSING",
    "PARTNER_SCOPES",
    "ROUTE_CUSTOMER",
    "ROUTE_CUSTOMERS",
    "ROUTE_JOBS",
    "ROUTE_JOBS_BY_MODULE",
    "ROUTE_PROTECTED",
    "ROUTE_SERVICES",
    "ROUTE_TOKEN",
    "ROUTE_UNKNOWN",
    "ROUTE_V3_CUSTOMERS",
    "ROUTE_V3_JOBS",
    "ROUTE_V3_PROTECTED",
    "ROUTE_V3_SEATS",
    "ROUTE_V3_SERVICES",
    "V3_MAX_PAGE_SIZE",
    "V3_NEVER_RUN_STATUS",
    "Faults",
    "FleetSpec",
    "Simulator",
]

"""The AvePoint API versions and the OAuth scope each endpoint group needs under each of them."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # schema imports this module for its defaults
    from exporter.config.schema import EndpointsConfig

API_VERSIONS = ("legacy", "v3")
# What `auth.scopes` asks for by default: the customers list and the jobs, as EndpointsConfig's defaults.
LEGACY_SCOPES = ("partner.customers.read.all", "partner.jobs.read.all")
V3_SCOPES = ("elements.customers.read.all", "elements.jobs.read.all")
# The scope each endpoint group needs, per API version (the customers list is always read).
ENDPOINT_SCOPES: Mapping[str, Mapping[str, str]] = types.MappingProxyType(
    {
        "legacy": types.MappingProxyType(
            {
                "customers": "partner.customers.read.all",
                "jobs": "partner.jobs.read.all",
                "protected": "partner.cbprotected.read.all",
                "services": "partner.license.read.all",
                # docs/docs/services-and-features/elements/scan-profiles/all-scan-profiles.md (AvePoint/cloud-api)
                "scan_profiles": "partner.scanprofiles.read.all",
            }
        ),
        "v3": types.MappingProxyType(
            {
                "customers": "elements.customers.read.all",
                "jobs": "elements.jobs.read.all",
                "protected": "elements.cbprotected.read.all",
                "services": "elements.license.read.all",
                # docs/elements/general/job/get-customer-scan-profiles.md (AvePoint/cloud-api)
                "scan_profiles": "elements.scanprofiles.read.all",
            }
        ),
    }
)
_DEFAULTS = types.MappingProxyType({"legacy": LEGACY_SCOPES, "v3": V3_SCOPES})


def default_scopes(version: str, endpoints: EndpointsConfig | None = None) -> tuple[str, ...]:
    """The scopes requested when `auth.scopes` is not set: those of the enabled endpoint groups."""
    if endpoints is None:
        return _DEFAULTS[version]
    scopes = ENDPOINT_SCOPES[version]
    enabled = {
        "customers": True,
        "jobs": endpoints.jobs,
        "protected": endpoints.protected,
        "services": endpoints.services,
        "scan_profiles": endpoints.scan_profiles,
    }
    return tuple(scopes[group] for group, on in enabled.items() if on)

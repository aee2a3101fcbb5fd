"""endpoints.seat_tenant_types: the tenant types whose user seats v3 is asked for, validated and canonical."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exporter import config
from exporter.errors import ConfigError
from exporter.refresh import changes

AUTH = {"client_id": "x", "client_secret": "y"}


def seat_types(value: object = None, env: dict[str, str] | None = None) -> tuple[str, ...]:
    data: dict[str, object] = {"auth": AUTH}
    if value is not None:
        data["endpoints"] = {"seat_tenant_types": value}
    return config.from_mapping(data, env=env).endpoints.seat_tenant_types


def test_every_documented_type_by_default() -> None:
    assert seat_types() == ("Microsoft 365", "Salesforce", "Google", "Dynamics 365")


def test_names_in_any_case_and_codes_as_strings_become_names_once() -> None:
    assert seat_types(["google", "0", "1", "GOOGLE"]) == ("Google", "Microsoft 365", "Salesforce")
    assert seat_types([]) == ()
    # From the environment as codes, or as a YAML list for names with spaces.
    assert seat_types(env={"AVEPOINT_ENDPOINTS_SEAT_TENANT_TYPES": "0,3"}) == ("Microsoft 365", "Dynamics 365")
    assert seat_types(env={"AVEPOINT_ENDPOINTS_SEAT_TENANT_TYPES": '["Dynamics 365"]'}) == ("Dynamics 365",)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["Azure"], "endpoints.seat_tenant_types[0]: 'Azure' is no tenant type; use one of: 0 (Microsoft 365),"),
        (["0", "7"], "endpoints.seat_tenant_types[1]: '7' is no tenant type"),
        ("Google", "endpoints.seat_tenant_types: must be a list, not a string"),
    ],
)
def test_a_bad_type_is_refused_naming_the_key(value: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        seat_types(value)
    assert str(raised.value).startswith(message)


def test_a_change_makes_every_customer_due_under_v3_only() -> None:
    v3 = config.from_mapping({"auth": AUTH, "api": {"version": "v3"}, "endpoints": {"services": True}})
    fewer = replace(v3, endpoints=replace(v3.endpoints, seat_tenant_types=("Microsoft 365",)))
    assert changes.due(v3, fewer).customers
    legacy = replace(v3, api=replace(v3.api, version="legacy"))
    assert not changes.due(legacy, replace(fewer, api=legacy.api)).customers

"""Rows of v3's user-seats route into TenantSeats: the documented fields, and what a bad row gives."""

from __future__ import annotations

from exporter.model import TenantSeats
from exporter.upstream import parse


def test_a_documented_row() -> None:
    row = {"type": 2, "tenantId": "t-1", "tenantName": "Acme", "availableUserSeat": 3, "assignedUserSeat": 97}
    assert parse.tenant_seats(row, "Microsoft 365") == (TenantSeats("Google", "t-1", "Acme", 97, 3), [])


def test_without_a_tenant_id_there_is_no_record() -> None:
    assert parse.tenant_seats({"type": 0, "assignedUserSeat": 1}, "Microsoft 365") == (None, ["tenantId"])
    assert parse.tenant_seats({"tenantId": "N/A"}, "Microsoft 365") == (None, ["tenantId"])


def test_missing_values_are_left_out_and_bad_ones_named() -> None:
    row = {"tenantId": "t-1", "availableUserSeat": "N/A", "assignedUserSeat": "many"}
    assert parse.tenant_seats(row, "Salesforce") == (TenantSeats("Salesforce", "t-1"), ["assignedUserSeat"])
    negative = {"tenantId": "t-1", "assignedUserSeat": -1}
    assert parse.tenant_seats(negative, "Salesforce") == (TenantSeats("Salesforce", "t-1"), ["assignedUserSeat"])


def test_an_undocumented_type_code_is_kept_as_its_number() -> None:
    assert parse.tenant_seats({"type": 9, "tenantId": "t"}, "Microsoft 365")[0] == TenantSeats("9", "t")

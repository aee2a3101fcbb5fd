"""The fleet as a test sees and scripts it, without HTTP: its rows in either dialect, pins, removals, renames."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from avepoint_simulator.dialects import internal, legacy_job_row, v3_customer, v3_job_row
from avepoint_simulator.fleet import Customer, FleetSpec, build_fleet
from avepoint_simulator.rows import job_row, never_run_row, protected_rows, run, seat_rows, service_row
from avepoint_simulator.scan_profiles import Profile, profiles


class _Missing:
    """Type of MISSING: `pin(..., field=MISSING)` drops the key from the row."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class Scenario:
    """One synthetic fleet at the time of a clock, with what a test changed in it.

    Everything it serves is a pure function of the fleet spec, the clock and the pins.
    """

    def __init__(
        self,
        fleet: FleetSpec | None = None,
        *,
        clock: Callable[[], float] = time.time,
        job_period: float = 86400.0,
    ) -> None:
        if job_period <= 0:
            raise ValueError(f"job_period must be > 0, got {job_period}")
        self.fleet = fleet or FleetSpec()
        self._clock = clock
        self.job_period = float(job_period)

        self._customers = build_fleet(self.fleet)
        self._by_id = {c.id: c for c in self._customers}

        self._lock = threading.Lock()
        # Pins, removals and extra rows are replaced, never mutated, so request threads read
        # them without taking the lock.
        self._pins: dict[tuple[str, str, str], dict[str, object]] = {}
        self._extra_rows: dict[str, tuple[tuple[str, str], ...]] = {}
        self._removed: frozenset[str] = frozenset()

    @property
    def customers(self) -> list[dict[str, str]]:
        """The customers as `GET /partner/customers` serves them (copies)."""
        removed = self._removed
        return [dict(c.record) for c in self._customers if c.id not in removed]

    @property
    def customer_ids(self) -> list[str]:
        removed = self._removed
        return [c.id for c in self._customers if c.id not in removed]

    def jobs(self, customer_id: str, at: float | None = None) -> list[dict[str, object]]:
        """The job rows of a customer as the legacy routes serve them at `at` (default: the clock), pins applied."""
        return [legacy_job_row(row) for row in self._rows_of(customer_id, at)]

    def _rows_of(self, customer_id: str, at: float | None) -> list[dict[str, object]]:
        customer = self._served_customer(customer_id)
        if customer is None:
            raise KeyError(customer_id)
        return self._job_rows(customer, self._clock() if at is None else at)

    def protected(self, customer_id: str, at: float | None = None) -> list[dict[str, object]]:
        customer = self._served_customer(customer_id)
        if customer is None:
            raise KeyError(customer_id)
        return protected_rows(customer, self._clock() if at is None else at)

    def scan_profiles(self, customer_id: str) -> tuple[Profile, ...]:
        """The customer's scan profiles (with which fail and which are silent); their rows are scan_profiles.py's."""
        customer = self._served_customer(customer_id)
        if customer is None:
            raise KeyError(customer_id)
        return profiles(customer, self.fleet.seed)

    def services(self, at: float | None = None) -> list[dict[str, object]]:
        now = self._clock() if at is None else at
        removed = self._removed
        return [service_row(c, now) for c in self._customers if c.id not in removed]

    def seats(self, customer_id: str, tenant_type: int) -> list[dict[str, object]]:
        """The user seats of a customer's tenants of one type, as v3's `3rd-party-products/.../tenants/batch`
        serves them (all pages). The fleet's first customer has a tenant nearly out of seats."""
        customer = self._served_customer(customer_id)
        if customer is None:
            raise KeyError(customer_id)
        return seat_rows(customer, tenant_type, nearly_full=customer.id == self._customers[0].id)

    @property
    def customers_v3(self) -> list[dict[str, object]]:
        """The customers as v3's `customers/batch` serves them (all pages)."""
        removed = self._removed
        return [v3_customer(c) for c in self._customers if c.id not in removed]

    def jobs_v3(self, customer_id: str, at: float | None = None) -> list[dict[str, object]]:
        """The job rows of a customer as v3's `jobs/batch` serves them: `jobs()` with codes."""
        return [v3_job_row(row) for row in self._rows_of(customer_id, at)]

    def services_v3(self, at: float | None = None) -> list[dict[str, object]]:
        now = self._clock() if at is None else at
        removed = self._removed
        return [service_row(c, now, v3=True) for c in self._customers if c.id not in removed]

    def run_window(
        self, customer_id: str, job_type: str, job_module: str, at: float | None = None
    ) -> tuple[float, float] | None:
        """(start, end) of the latest run of a module at `at`; None if it never runs."""
        customer = self._by_id[customer_id]
        job_type, job_module = internal(job_type, job_module)
        for module in customer.modules:
            if (module.job_type, module.job_module) == (job_type, job_module):
                if module.never_run:
                    return None
                now = self._clock() if at is None else at
                start, seconds, _, _, _ = run(module, now, self.job_period)
                return float(start), float(start + seconds)
        raise KeyError((customer_id, job_type, job_module))

    def pin(self, customer_id: str, job_type: str, job_module: str, **fields: object) -> None:
        """Override fields of a job row from now on; `MISSING` drops a field.

        Pinning a (type, module) the customer does not have adds that row (as never run,
        plus the pinned fields), which scripts "a new module appears".
        """
        if customer_id not in self._by_id:
            raise KeyError(customer_id)
        job_type, job_module = internal(job_type, job_module)
        key = (customer_id, job_type, job_module)
        with self._lock:
            pins = dict(self._pins)
            pins[key] = {**pins.get(key, {}), **fields}
            self._pins = pins
            own = {(m.job_type, m.job_module) for m in self._by_id[customer_id].modules}
            extra = self._extra_rows.get(customer_id, ())
            if (job_type, job_module) not in own and (job_type, job_module) not in extra:
                self._extra_rows = {
                    **self._extra_rows,
                    customer_id: (*extra, (job_type, job_module)),
                }

    def unpin(self, customer_id: str, job_type: str, job_module: str, *fields: str) -> None:
        """Drop the named pinned fields of a row, or all of them (and any added row)."""
        job_type, job_module = internal(job_type, job_module)
        key = (customer_id, job_type, job_module)
        with self._lock:
            pins = dict(self._pins)
            current = pins.pop(key, {})
            rest = {k: v for k, v in current.items() if k not in fields} if fields else {}
            if rest:
                pins[key] = rest
            else:
                extra = tuple(pair for pair in self._extra_rows.get(customer_id, ()) if pair != (job_type, job_module))
                self._extra_rows = {**self._extra_rows, customer_id: extra}
            self._pins = pins

    def remove_customer(self, customer_id: str) -> None:
        """The customer disappears from every list; its routes answer 404."""
        if customer_id not in self._by_id:
            raise KeyError(customer_id)
        with self._lock:
            self._removed = self._removed | {customer_id}

    def restore_customer(self, customer_id: str) -> None:
        if customer_id not in self._by_id:
            raise KeyError(customer_id)
        with self._lock:
            self._removed = self._removed - {customer_id}

    def rename_customer(self, customer_id: str, organization: str) -> None:
        """Serve the customer under another organization name from now on (a hostile one, say)."""
        with self._lock:
            old = self._by_id[customer_id]
            customer = replace(old, record={**old.record, "organization": organization})
            self._customers = [customer if c.id == customer_id else c for c in self._customers]
            self._by_id = {**self._by_id, customer_id: customer}

    def _listed(self) -> list[Customer]:
        """The customers every list shows: all but the removed ones."""
        removed = self._removed
        return [c for c in self._customers if c.id not in removed]

    def _served_customer(self, customer_id: str) -> Customer | None:
        customer = self._by_id.get(customer_id) or self._by_id.get(customer_id.lower())
        if customer is None or customer.id in self._removed:
            return None
        return customer

    def _job_rows(self, customer: Customer, now: float) -> list[dict[str, object]]:
        pins = self._pins
        rows: list[dict[str, object]] = []
        for module in customer.modules:
            row = job_row(module, now, self.job_period)
            pinned = pins.get((customer.id, module.job_type, module.job_module))
            rows.append(_apply_pins(row, pinned) if pinned else row)
        for job_type, job_module in self._extra_rows.get(customer.id, ()):
            pinned = pins.get((customer.id, job_type, job_module), {})
            rows.append(_apply_pins(never_run_row(job_type, job_module), pinned))
        return rows


def _apply_pins(row: dict[str, object], pinned: dict[str, object]) -> dict[str, object]:
    out = dict(row)
    for name, value in pinned.items():
        if value is MISSING:
            out.pop(name, None)
        else:
            out[name] = value
    return out

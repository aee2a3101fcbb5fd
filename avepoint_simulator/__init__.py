"""An AvePoint partner API on loopback, with a synthetic fleet and fault injection: the demo and the tests' upstream."""

from avepoint_simulator.simulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, FleetSpec, Simulator

__all__ = ["DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET", "FleetSpec", "Simulator"]

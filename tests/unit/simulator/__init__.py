"""Tests of avepoint_simulator."""

"""Tests of exporter.refresh."""

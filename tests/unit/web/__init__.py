"""Tests of exporter.web."""

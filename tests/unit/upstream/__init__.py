"""Tests of exporter.upstream."""

"""Tests of exporter.exposition."""

"""Prometheus metrics served on /_/metrics."""

"""Evaluation: per-query metrics with ranx."""

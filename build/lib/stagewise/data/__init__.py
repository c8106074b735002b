"""Datasets: ir_datasets ids or local folders, and the embedded synthetic generator."""

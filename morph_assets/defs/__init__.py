"""Dagster wiring, one folder per stage; each stage module exposes ``defs``."""

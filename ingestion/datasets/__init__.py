"""Reproducible dataset versions: a query or dbt model exported once, with its provenance.

from ingestion import datasets
users = datasets.load("users", "2026-06-01", as_="pandas")
"""

from __future__ import annotations

from ingestion.datasets.api import load, manifest, versions

__all__ = ["load", "manifest", "versions"]

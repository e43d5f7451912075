"""How forecast frames and responses name their quantile columns: one rule everywhere."""

from __future__ import annotations


def quantile_label(q: float) -> str:
    """0.1 -> "0.1", 0.05 -> "0.05": the column name of a quantile level."""
    return f"{q:g}"

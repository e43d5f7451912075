"""Markdown tables for reports and MLflow artifacts."""

from __future__ import annotations

import pandas as pd


def markdown_table(frame: pd.DataFrame, float_format: str = ".3f") -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(format(v, float_format) if isinstance(v, float) else str(v)
                              for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def read_saved_table(path, **kwargs) -> pd.DataFrame:
    """A CSV this project wrote, read back to the same floats: pandas' default parser may
    miss by the last bit, and a part that is loaded and saved again would then rewrite its
    figures (`forecast study --parts`, which keeps the parts it does not re-run)."""
    return pd.read_csv(path, float_precision="round_trip", **kwargs)

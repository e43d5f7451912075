"""Reading a user's table into the long format: the wide layout (one column per series)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.config import DataSettings
from forecast.data.loading import to_long_format
from forecast.errors import DataValidationError, MissingColumnError


def wide_table(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="D"),
                         "north": np.arange(n, dtype=float), "south": 10.0 + np.arange(n),
                         "y": 100.0 + np.arange(n), "price": np.linspace(1, 2, n)})


def wide(**settings) -> DataSettings:
    return DataSettings(layout="wide", columns={"ds": "date"}, **settings)


def test_a_wide_table_becomes_one_series_per_column_with_named_covariates_shared():
    table = wide_table()
    long = to_long_format(table, wide(past_covariates=["price"]))
    assert sorted(long["unique_id"].unique()) == ["north", "south", "y"]  # "y" is a series too
    for name in ("north", "south", "y"):
        one = long[long["unique_id"] == name].sort_values("ds")
        assert one["y"].tolist() == table[name].tolist()
        assert one["ds"].tolist() == table["date"].tolist()
        assert one["price"].tolist() == table["price"].tolist()  # beside every series


def test_without_named_covariates_every_numeric_column_is_a_series():
    long = to_long_format(wide_table(), wide())
    assert sorted(long["unique_id"].unique()) == ["north", "price", "south", "y"]
    assert len(long) == 4 * 6


def test_a_text_column_in_a_wide_table_is_named_with_the_fix():
    table = wide_table().assign(region="east")
    with pytest.raises(DataValidationError, match=r"\['region'\].*not numbers") as info:
        to_long_format(table, wide())
    assert info.value.field == "layout" and "data.past_covariates" in str(info.value)


def test_a_wide_table_read_as_long_points_at_the_wide_layout():
    with pytest.raises(MissingColumnError, match="data.layout=wide"):
        to_long_format(wide_table().drop(columns="y"), DataSettings(columns={"ds": "date"}))
    with pytest.raises(MissingColumnError, match="'when'.*data.columns.ds=COLUMN"):
        to_long_format(wide_table(), DataSettings(layout="wide", columns={"ds": "when"}))


def test_an_index_written_with_a_wide_table_is_not_taken_for_a_series(tmp_path):
    wide_table().to_csv(tmp_path / "with_index.csv")  # pandas writes the index, no header
    table = pd.read_csv(tmp_path / "with_index.csv")
    with pytest.raises(DataValidationError, match=r"\['Unnamed: 0'\] have no header"):
        to_long_format(table, wide())

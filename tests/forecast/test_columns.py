"""A file that names its columns otherwise (`date`, `sales`, `store`) is read as it is when
one column fits each role, and refused, naming the candidates and the key, when several do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import build_config
from forecast.data.columns import resolve_columns
from forecast.data.loading import load_frame
from forecast.errors import MissingColumnError


def sales(n_days: int = 30, stores: tuple[str, ...] = ("north", "south")) -> pd.DataFrame:
    days = pd.date_range("2024-01-01", periods=n_days, freq="D").strftime("%Y-%m-%d")
    rng = np.random.default_rng(3)
    return pd.DataFrame({"store": np.repeat(stores, n_days), "date": np.tile(days, len(stores)),
                         "sales": rng.gamma(5.0, 10.0, n_days * len(stores))})


def settings(**data):
    return build_config({"data": data}).data


def test_one_column_per_role_is_read_and_said():
    frame = sales()
    resolved, notes = resolve_columns(frame, settings())
    assert (resolved.columns.ds, resolved.columns.y, resolved.columns.unique_id) == \
        ("date", "sales", "store")
    assert len(notes) == 1 and "timestamp 'date' (data.columns.ds)" in notes[0]
    assert "target 'sales' (data.columns.y)" in notes[0]
    assert "series id 'store' (data.columns.unique_id)" in notes[0]
    long = load_frame(settings(), frame)  # every reader finds them the same way
    assert sorted(long["unique_id"].unique()) == ["north", "south"]
    np.testing.assert_array_equal(long["y"].to_numpy(), frame["sales"].to_numpy())


def test_the_configured_names_are_kept_and_nothing_is_said():
    frame = sales().rename(columns={"date": "ds", "sales": "y", "store": "unique_id"})
    frame["price"] = 1.0  # a second number changes nothing when y is named
    resolved, notes = resolve_columns(frame, settings())
    assert resolved == settings() and notes == []


def test_several_candidates_are_named_with_the_key():
    frame = sales().assign(price=2.0)
    with pytest.raises(MissingColumnError, match=r"--set data.columns.y=COLUMN.*could be it: "
                                                 r"sales, price"):
        resolve_columns(frame, settings())
    resolved, _ = resolve_columns(frame, settings(past_covariates=["price"]))  # named: not y
    assert resolved.columns.y == "sales"
    trips = sales().rename(columns={"date": "start_time"}).assign(
        stop_time=lambda f: f["start_time"])
    with pytest.raises(MissingColumnError, match="could be it: start_time, stop_time") as err:
        resolve_columns(trips, settings())
    assert err.value.field == "ds"


def test_a_year_column_is_a_timestamp_by_its_name_not_a_target():
    frame = pd.DataFrame({"Country": np.repeat(["A", "B"], 20),
                          "Year": np.tile(np.arange(1990, 2010), 2),
                          "Debt": np.linspace(1, 2, 40)})
    resolved, _ = resolve_columns(frame, settings())
    assert (resolved.columns.ds, resolved.columns.y, resolved.columns.unique_id) == \
        ("Year", "Debt", "Country")


def test_series_ids_alike_count_once_and_unrelated_ones_are_refused():
    frame = sales().assign(label=lambda f: f["store"].str.upper())  # an id and its label
    resolved, _ = resolve_columns(frame, settings())
    assert resolved.columns.unique_id == "store"
    swapped = frame["store"].map({"north": "south", "south": "north"})
    early = frame["date"] < "2024-01-16"  # unique per date too, but not the same split
    frame["shift"] = frame["store"].where(early, swapped)
    with pytest.raises(MissingColumnError, match="several rows per timestamp.*"
                                                 "data.columns.unique_id") as err:
        resolve_columns(frame, settings())
    assert err.value.field == "unique_id"
    one = sales(stores=("north",)).assign(note="promo")  # one series: no id needed
    assert resolve_columns(one, settings())[0].columns.unique_id == "unique_id"


def test_series_keyed_by_several_columns_get_one_id_from_them_all():
    """As fpp3's prison data: no one text column keys a series, all of them together do;
    a column the others decide (a code's description) is left out of the key."""
    frame = pd.concat([sales(stores=("north", "south")).assign(product=p)
                       for p in ("tea", "cake")], ignore_index=True)
    frame["product_name"] = frame["product"].str.title()  # decided by `product`
    resolved, notes = resolve_columns(frame, settings())
    assert resolved.columns.unique_id == ["store", "product"]
    assert "series id the columns 'store' + 'product' together" in notes[0]
    long = load_frame(resolved, frame)
    assert sorted(long["unique_id"].unique()) == ["north/cake", "north/tea", "south/cake",
                                                  "south/tea"]
    assert load_frame(settings(), frame)["unique_id"].nunique() == 4  # as every reader does
    named = build_config({"data": {"columns": {"unique_id": ["product", "store"], "ds": "date",
                                               "y": "sales"}}}).data  # or named so
    assert set(load_frame(named, frame)["unique_id"]) == {"tea/north", "tea/south",
                                                           "cake/north", "cake/south"}

"""Large panels: a Parquet file read a piece of whole series at a time gives the same panel,
windows are computed, not stored, and memory is the float32 panel."""

from __future__ import annotations

import numpy as np
import pytest

from forecast import Forecaster, build_config
from forecast.datamodule import prepare_data
from forecast.errors import DataValidationError
from forecast.evaluation import evaluate
from tests.conftest import make_panel, tiny_config_values


def parquet_config(path, **data):
    values = tiny_config_values(path=str(path), **data)
    return build_config(values)


def test_pieces_give_the_same_panel_as_one_frame(tmp_path):
    frame = make_panel(n_series=7, seed=2)
    path = tmp_path / "panel.parquet"
    frame.to_parquet(path, index=False)
    whole = prepare_data(parquet_config(path).data)
    pieces = prepare_data(parquet_config(path, in_memory_rows=100).data)  # 2,800 rows
    assert whole.frame is not None and pieces.frame is None
    assert [s.unique_id for s in pieces.panel.series] == [s.unique_id for s in whole.panel.series]
    np.testing.assert_array_equal(pieces.panel.values, whole.panel.values)
    assert pieces.bounds == whole.bounds
    assert pieces.panel.scaler.to_json() == whole.panel.scaler.to_json()
    assert pieces.panel.values.dtype == np.float32
    assert all(np.shares_memory(s.values, pieces.panel.values) for s in pieces.panel.series)


def test_pieces_with_missing_timestamps_fill_like_one_frame(tmp_path):
    """Rows added for missing timestamps outgrow the rows the file holds: the panel grows."""
    frame = make_panel(n_series=7, seed=2)
    gappy = frame.drop(index=frame.groupby("unique_id").head(300).index[50::3])
    path = tmp_path / "gappy.parquet"
    gappy.to_parquet(path, index=False)
    whole = prepare_data(parquet_config(path, fill="interpolate").data)
    pieces = prepare_data(parquet_config(path, fill="interpolate", in_memory_rows=100).data)
    assert len(pieces.panel.values) == len(frame) > len(gappy)
    np.testing.assert_array_equal(pieces.panel.values, whole.panel.values)
    assert all(np.shares_memory(s.values, pieces.panel.values) for s in pieces.panel.series)
    assert pieces.notes[0].startswith("added ") and len(pieces.notes) >= 7 * 2
    assert pieces.panel.spec.fill == "interpolate"


def test_a_model_trains_and_is_scored_from_pieces(tmp_path):
    path = tmp_path / "panel.parquet"
    make_panel(n_series=5, seed=4).to_parquet(path, index=False)
    config = parquet_config(path, in_memory_rows=500)
    forecaster = Forecaster("gru", config).fit()
    assert forecaster.prepared.frame is None and np.isfinite(forecaster.metrics["mae"])
    # a model with other statistics (the champion, in gating) is scored on the same panel
    other = Forecaster("naive", parquet_config(path)).fit(make_panel(n_series=2, seed=8))
    scores = evaluate(other.predictor, forecaster.prepared)
    in_memory = evaluate(other.predictor, prepare_data(parquet_config(path).data))
    assert scores["mae"] == pytest.approx(in_memory["mae"], rel=1e-5)


def test_series_whose_rows_are_apart_are_refused(tmp_path):
    frame = make_panel(n_series=3)
    shuffled = frame.iloc[np.r_[0:200, 400:1200, 200:400]]  # s0 comes back after s1, s2
    path = tmp_path / "panel.parquet"
    shuffled.to_parquet(path, index=False)
    with pytest.raises(DataValidationError, match="rows of series 's0' are not together"):
        prepare_data(parquet_config(path, in_memory_rows=10).data)


def test_series_embedding_trains_saves_and_serves_unseen_series(tmp_path, panel_frame):
    values = tiny_config_values()
    values["model"]["series_embedding"] = 4
    forecaster = Forecaster("lstm", build_config(values)).fit(panel_frame)
    predictor = forecaster.predictor
    assert predictor.series_ids == ("s0", "s1") and predictor.key_of("s1") == 2
    assert predictor.key_of("never-seen") == 0
    assert predictor.network.table.weight.shape == (3, 4)
    forecaster.save(tmp_path / "m")
    loaded = Forecaster.load(tmp_path / "m")
    assert loaded.predictor.series_ids == predictor.series_ids
    history = panel_frame.groupby("unique_id").head(300)
    future = panel_frame.groupby("unique_id").nth(list(range(300, 306))).drop(columns="y")
    before = forecaster.predict(history, future_df=future)
    after = loaded.predict(history, future_df=future)
    np.testing.assert_allclose(before["mean"], after["mean"], rtol=1e-6)
    renamed = history.assign(unique_id="new_" + history["unique_id"])  # unseen: row 0
    unseen = loaded.predict(renamed, future_df=future.assign(unique_id="new_" + future[
        "unique_id"]))
    assert np.isfinite(unseen["mean"]).all()
    assert not np.allclose(unseen["mean"].to_numpy(), after["mean"].to_numpy())

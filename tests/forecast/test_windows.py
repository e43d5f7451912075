"""Windows index one shared tensor and line up lookback, horizon and covariates."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.data.calendar import calendar_features
from forecast.datamodule import WindowDataModule, prepare_data
from tests.conftest import HORIZON, LOOKBACK


@pytest.fixture
def module(tiny_config, panel_frame):
    return WindowDataModule(prepare_data(tiny_config.data, panel_frame), tiny_config.data)


def test_window_targets_follow_the_lookback(module):
    dataset = module.dataset("train")
    item = dataset[7]
    series = module.prepared.panel.series[int(item["series"])]
    t = int(item["start"])
    np.testing.assert_allclose(item["past"][:, 0].numpy(), series.values[t - LOOKBACK:t, 0])
    np.testing.assert_allclose(item["target"].numpy(), series.values[t:t + HORIZON, 0])
    # the known-ahead block (future covariate + calendar) is the horizon's, not the lookback's
    spec = module.prepared.panel.spec
    n_past = 1 + len(spec.past_covariates)
    calendar = calendar_features(series.ds[t:t + HORIZON], list(spec.calendar))
    expected = np.concatenate([series.values[t:t + HORIZON, n_past:], calendar], axis=1)
    np.testing.assert_allclose(item["future"].numpy(), expected, rtol=1e-6, atol=1e-6)
    assert item["past"].shape[1] == spec.n_step_features


def test_the_panel_is_one_array_that_series_and_windows_share(module):
    panel, dataset = module.prepared.panel, module.dataset("train")
    assert all(np.shares_memory(s.values, panel.values) for s in panel.series)  # views
    assert dataset.values.untyped_storage().data_ptr() == panel.values.ctypes.data
    assert panel.values.shape[1] == 1 + len(panel.spec.covariates)  # no calendar stored
    assert panel.series[0].stamps is None  # a fixed step stores no timestamps


def positions(dataset, series: int) -> np.ndarray:
    owner, starts = dataset.locate(np.arange(len(dataset)))
    return starts[owner == series]


def test_splits_do_not_overlap_in_targets(module):
    bounds = module.prepared.bounds[0]
    train, val, test = (module.dataset(s) for s in ("train", "val", "test"))
    assert (positions(train, 0) + HORIZON <= bounds.train_end).all()
    v = positions(val, 0)
    assert v.min() >= bounds.train_end and (v + HORIZON <= bounds.val_end).all()
    t = positions(test, 0)
    assert t.min() >= bounds.val_end and t.max() + HORIZON == bounds.length


def test_scaler_sees_only_the_training_part(tiny_config, panel_frame):
    before = prepare_data(tiny_config.data, panel_frame).panel.scaler.stats["s0"]
    changed = panel_frame.copy()
    last = changed.index[changed["unique_id"] == "s0"][-60:]  # validation + test part
    changed.loc[last, "y"] += 1e4
    after = prepare_data(tiny_config.data, changed).panel.scaler.stats["s0"]
    assert after.y_mean == pytest.approx(before.y_mean)
    assert after.y_std == pytest.approx(before.y_std)


def test_static_covariates_reach_the_batch(tiny_config, panel_frame):
    config = tiny_config.model_copy(deep=True)
    config.data.static_covariates = ["size"]
    module = WindowDataModule(prepare_data(config.data, panel_frame), config.data)
    batch = next(iter(module.val_dataloader()))
    assert batch["static"].shape[1] == 1
    assert set(batch["static"][:, 0].tolist()) <= {1.0, 2.0}

"""Windows index one shared tensor and line up lookback, horizon and covariates."""

from __future__ import annotations

import numpy as np
import pytest

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
    n_past = 1 + len(module.prepared.panel.spec.past_covariates)
    np.testing.assert_allclose(item["future"].numpy(), series.values[t:t + HORIZON, n_past:])


def test_windows_are_views_not_copies(module):
    dataset = module.dataset("train")
    item = dataset[3]
    assert item["past"].untyped_storage().data_ptr() == dataset.values.untyped_storage().data_ptr()


def test_splits_do_not_overlap_in_targets(module):
    bounds = module.prepared.bounds[0]
    train, val, test = (module.dataset(s) for s in ("train", "val", "test"))
    first = train.series_index == 0
    assert (train.starts[first] + HORIZON <= bounds.train_end).all()
    v = val.starts[val.series_index == 0]
    assert v.min() >= bounds.train_end and (v + HORIZON <= bounds.val_end).all()
    t = test.starts[test.series_index == 0]
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

"""Windows index one shared tensor and line up lookback, horizon and covariates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


def training_starts(module: WindowDataModule, epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """(series, first target index) of every window the training loader served."""
    series, starts = [], []
    for _ in range(epochs):
        for batch in module.train_dataloader():
            series.append(batch["series"].numpy())
            starts.append(batch["start"].numpy())
    return np.concatenate(series), np.concatenate(starts)


def strided_module(tiny_config, panel_frame, **data) -> WindowDataModule:
    config = tiny_config.model_copy(deep=True)
    config.data = config.data.model_copy(update={"window_step": 4, **data})
    return WindowDataModule(prepare_data(config.data, panel_frame), config.data)


def test_training_windows_start_at_every_phase_of_their_stride(tiny_config, panel_frame):
    """Windows 4 steps apart on a fixed grid start at one phase in 4 (in monthly data a
    stride of 4 never starts a forecast in January); jittered, every phase is trained on,
    no window leaves its series' training part, and each epoch holds as many windows."""
    module = strided_module(tiny_config, panel_frame)
    grid = module.dataset("train")
    torch.manual_seed(0)
    series, starts = training_starts(module, epochs=5)
    assert len(starts) == 5 * len(grid)
    bounds = module.prepared.bounds[0]
    mine = starts[series == 0]
    assert set(positions(grid, 0) % 4) == {LOOKBACK % 4}  # the fixed grid: one phase
    assert set(mine % 4) == {0, 1, 2, 3}
    assert mine.min() >= LOOKBACK and (mine + HORIZON <= bounds.train_end).all()
    # a jittered window holds the values at its own start
    batch = next(iter(module.train_dataloader()))
    row = 0
    values = module.prepared.panel.series[int(batch["series"][row])].values
    t = int(batch["start"][row])
    np.testing.assert_allclose(batch["target"][row].numpy(), values[t:t + HORIZON, 0])
    np.testing.assert_allclose(batch["past"][row, :, 0].numpy(), values[t - LOOKBACK:t, 0])


def test_jitter_follows_the_seed_and_can_be_turned_off(tiny_config, panel_frame):
    module = strided_module(tiny_config, panel_frame)
    draws = []
    for _ in range(2):
        torch.manual_seed(3)
        draws.append(training_starts(module, epochs=1))
    np.testing.assert_array_equal(draws[0][1], draws[1][1])
    fixed = strided_module(tiny_config, panel_frame, window_jitter=False)
    series, starts = training_starts(fixed, epochs=2)
    assert set(starts[series == 0] % 4) == {LOOKBACK % 4}
    # evaluation windows are never jittered: validation is scored on the same origins
    val = [b["start"].numpy() for b in module.val_dataloader()]
    again = [b["start"].numpy() for b in module.val_dataloader()]
    np.testing.assert_array_equal(np.concatenate(val), np.concatenate(again))

"""`forecast tune`'s search spaces: what a trial draws follows the data and the user's settings,
and every draw is a valid config."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from forecast import build_config
from forecast.datamodule import prepare
from forecast.models import get_family
from forecast.models.transformer import patch_choices


def quarterly_config(**model):
    """A config resolved from quarterly data with nothing set: the own-data defaults decide
    the lookback (16 quarters) and the Transformer's patch (4)."""
    rng = np.random.default_rng(0)
    ds = pd.date_range("2000-01-01", periods=80, freq="QS")
    frame = pd.concat([pd.DataFrame({
        "unique_id": f"s{i}", "ds": ds,
        "y": 50 + 10 * np.sin(np.arange(80) * np.pi / 2) + rng.normal(0, 1, 80)})
        for i in range(3)])
    config, _ = prepare(build_config({"model": model}), frame)
    return config


def draws(config, trials: int = 40) -> list[dict]:
    """The search space's values for `trials` random trials of one study, each checked to
    give a valid config."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = get_family(config.model.name).search_space
    drawn = []
    for _ in range(trials):
        trial = study.ask()
        values = space(trial, config)
        config.with_values(values)  # raises if the draw and the config disagree
        drawn.append(values)
        study.tell(trial, 0.0)
    return drawn


def test_transformer_patches_follow_the_datas_lookback():
    config = quarterly_config(name="transformer")
    assert (config.data.lookback, config.model.transformer.patch_len) == (16, 4)
    patches = {v["model.transformer.patch_len"] for v in draws(config)}
    # around the frequency's own patch, each leaving at least two tokens in the lookback
    assert 4 in patches and patches <= {2, 4, 8}
    assert all(config.data.lookback // p >= 2 for p in patches)


@pytest.mark.parametrize("patch_len,lookback", [(12, 168), (7, 56), (4, 16), (6, 36),
                                                (3, 4), (1, 1), (288, 1008)])
def test_patch_choices_leave_two_tokens_and_keep_the_datas_patch_when_it_fits(patch_len,
                                                                               lookback):
    choices = patch_choices(patch_len, lookback)
    assert choices and all(p >= 1 for p in choices)
    assert all(p <= max(1, lookback // 2) for p in choices)
    if patch_len <= lookback // 2:
        assert patch_len in choices and len(choices) >= 2


def test_a_token_per_step_is_kept_not_searched():
    assert patch_choices(0, 168) == [0]


def test_recurrent_space_draws_the_seasonal_input_only_for_the_aligned_decoder():
    aligned = draws(quarterly_config(name="gru"))
    assert {v["model.rnn.seasonal_input"] for v in aligned} == {False, True}
    last = draws(quarterly_config(name="lstm", rnn={"decoder": "last"}))
    assert all("model.rnn.seasonal_input" not in v for v in last)


def test_every_draw_of_the_mlp_space_is_a_valid_config():
    drawn = draws(quarterly_config(name="mlp"))
    assert {v["model.mlp.num_layers"] for v in drawn} == {1, 2, 3}
    assert {v["model.mlp.feature_size"] for v in drawn} <= {2, 4, 8}

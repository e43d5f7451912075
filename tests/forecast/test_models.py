"""Every forecaster maps (B, L, F) to (B, H, Q); baselines and attention behave as documented."""

from __future__ import annotations

import pytest
import torch

from forecast.models import ModelDims, build_model

DIMS = ModelDims(lookback=24, horizon=6, n_features=5, n_future=3, n_static=2, n_outputs=3,
                 season=12)
ARCH = {
    "lstm": {"hidden_size": 8, "num_layers": 2, "dropout": 0.0},
    "gru": {"hidden_size": 8, "num_layers": 1, "dropout": 0.0},
    "transformer": {"d_model": 8, "n_heads": 2, "n_layers": 2, "ff_dim": 16, "dropout": 0.0,
                    "patch_len": 0},
    "mlp": {"hidden_size": 8, "num_layers": 2, "feature_size": 2, "dropout": 0.0},
    "naive": {},
    "seasonal_naive": {},  # the season is data.season, carried by ModelDims
}


def batch(b: int = 4) -> dict:
    torch.manual_seed(0)
    return {"past": torch.randn(b, 24, 5), "future": torch.randn(b, 6, 3),
            "static": torch.randn(b, 2)}


@pytest.mark.parametrize("name", list(ARCH))
def test_output_shape(name):
    model = build_model(name, DIMS, ARCH[name])
    assert model(batch()).shape == (4, 6, 3)


def test_naive_repeats_last_value():
    x = batch()
    out = build_model("naive", DIMS, ARCH["naive"])(x)
    assert torch.equal(out[:, :, 0], x["past"][:, -1:, 0].expand(-1, 6))


def test_seasonal_naive_takes_value_one_season_earlier():
    x = batch()
    out = build_model("seasonal_naive", DIMS, ARCH["seasonal_naive"])(x)
    assert torch.equal(out[:, :, 1], x["past"][:, 12:18, 0])


@pytest.mark.parametrize("patch_len,tokens", [(0, 24), (4, 6), (5, 5)])
def test_transformer_attention_maps(patch_len, tokens):
    arch = {**ARCH["transformer"], "patch_len": patch_len}
    model = build_model("transformer", DIMS, arch).eval()
    out, attention = model(batch(), return_attention=True)
    assert out.shape == (4, 6, 3)
    assert attention.shape == (4, 2, 2, tokens, tokens)  # (B, layers, heads, N, N)
    torch.testing.assert_close(attention.sum(-1), torch.ones(4, 2, 2, tokens))


def test_future_covariates_change_the_forecast():
    model = build_model("gru", DIMS, ARCH["gru"]).eval()
    x = batch()
    y = dict(x, future=x["future"] + 1.0)
    assert not torch.allclose(model(x), model(y))


def test_rnn_output_depends_on_early_inputs_through_recurrence():
    model = build_model("lstm", DIMS, ARCH["lstm"]).eval()
    x = batch()
    changed = x["past"].clone()
    changed[:, 0] += 5.0
    assert not torch.allclose(model(x), model(dict(x, past=changed)))


def test_mlp_projects_covariates_so_its_width_does_not_grow_with_them():
    few = build_model("mlp", DIMS, ARCH["mlp"])
    many = build_model("mlp", ModelDims(24, 6, 41, 3, 2, 3), ARCH["mlp"])
    assert few.encoder[0].in_features == many.encoder[0].in_features == 24 * (1 + 2)
    alone = build_model("mlp", ModelDims(24, 6, 1, 0, 0, 3), ARCH["mlp"])  # the target only
    past = torch.randn(4, 24, 1)
    out = alone({"past": past, "future": torch.zeros(4, 6, 0), "static": torch.zeros(4, 0)})
    assert out.shape == (4, 6, 3) and alone.encoder[0].in_features == 24

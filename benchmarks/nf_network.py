"""NeuralForecast's model as the peer benchmark builds it, in one place for the CPU runs
(`peer_models.run_neuralforecast`) and the GPU ones (`gpu_peers.fit_one`, which runs where
this project is not installed, so this module imports nothing of it)."""

from __future__ import annotations

EXOG_FREE = ("PatchTST",)  # NeuralForecast models that take no exogenous inputs


def nf_network(model: str, horizon: int, lookback: int, seed: int, past: list[str],
               future: list[str], accelerator: str = "cpu", **given):
    """`model` (a class of `neuralforecast.models`) with the benchmark's inputs: `past` as
    hist_exog and `future` (known covariates and calendar features) as futr_exog, unless it
    takes none; `given` is the budget and anything else the caller sets."""
    from neuralforecast import models as nf_models

    exog = {} if model in EXOG_FREE else {"hist_exog_list": past or None,
                                          "futr_exog_list": future or None}
    return getattr(nf_models, model)(
        h=horizon, input_size=lookback, random_seed=seed + 1, enable_progress_bar=False,
        logger=False, enable_checkpointing=False, enable_model_summary=False,
        accelerator=accelerator, **given, **exog)

"""`forecast compare`: every model on one split, backtests, a table, registry gating."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from forecast import ForecastConfig
from forecast.datamodule import PreparedData, prepare
from forecast.training import is_global_zero

from .bundle import read_bundle, record_run
from .ensembles import train_ensembles
from .mlflow_run import log_bundle, log_pyfunc
from .plots import comparison_bars
from .promotion import GatingRule, PromotionDecision, register_and_gate
from .tables import markdown_table
from .tracking import connect, ensure_experiment
from .train import TrackingFailedError, train_model

METRICS = ("mae", "rmse", "smape", "mase")
# when quantiles are served; served_*: the same test windows as the service serves them
# with adaptive intervals (forecast.evaluation.scores_on_test)
INTERVAL_METRICS = ("coverage_80", "coverage_90", "served_coverage_80", "served_coverage_90",
                    "width_80", "wql")


@dataclass
class CompareResult:
    parent_run_id: str
    table: pd.DataFrame
    best_model: str
    decision: PromotionDecision


def comparison_table(results: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for name, result in results.items():
        backtest = pd.DataFrame(result["backtest"])
        row = {"model": name, **{m: result["metrics"][m] for m in METRICS},
               **{m: result["metrics"].get(m, float("nan")) for m in INTERVAL_METRICS}}
        for m in ("mae", "mase"):
            row[f"backtest_{m}"] = float(backtest[m].mean()) if len(backtest) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows).sort_values("mae").reset_index(drop=True)


def run_compare(config: ForecastConfig, progress=print, prepared: PreparedData | None = None
                ) -> CompareResult | None:
    """`prepared` (with the config resolved for it) comes from the CLI, which checks the data
    before any MLflow store is touched; without it the data is prepared here."""
    if prepared is None:
        config, prepared = prepare(config)
    client = connect()
    experiment_id = ensure_experiment(client, config.tracking.experiment)
    trained: dict[str, tuple] = {}
    for name in config.models:
        progress(f"[compare] training {name}")
        forecaster, bundle = train_model(config.with_model(name), prepared, with_backtest=True)
        trained[name] = (forecaster, bundle)
    if not is_global_zero():  # a worker of a distributed run: rank 0 logs and registers
        return None
    trained.update(train_ensembles(config, {n: f for n, (f, _) in trained.items()}, prepared,
                                   progress))
    table = comparison_table({n: read_bundle(b) for n, (_, b) in trained.items()})
    metric = config.tracking.metric
    best = table.sort_values(metric)["model"].iloc[0]
    bundles = [b for _, b in trained.values()]
    try:
        started = min(read_bundle(b)["started_ms"] for b in bundles)  # the parent spans them
        parent_id = client.create_run(experiment_id, start_time=started,
                                      tags={MLFLOW_RUN_NAME: "compare"}).info.run_id
        with mlflow.start_run(run_id=parent_id) as parent:
            for bundle in bundles:
                record_run(bundle, parent.info.run_id)
            child_ids = {name: log_bundle(bundle, experiment_id, run_name=name,
                                          parent_run_id=parent.info.run_id,
                                          frame=prepared.frame if name == best else None)
                         for name, (_, bundle) in trained.items()}
            out = bundles[0].parent / f"compare-{parent.info.run_id}"
            out.mkdir(parents=True, exist_ok=True)
            table.to_csv(out / "comparison.csv", index=False)
            (out / "comparison.md").write_text(markdown_table(table))
            comparison_bars(table, metric, out / "comparison.png")
            mlflow.log_artifacts(str(out), artifact_path="comparison")
            mlflow.log_params({"models": ",".join(config.models), "metric": metric,
                               "ensembles": ",".join(config.ensembles),
                               "data.lookback": config.data.lookback,
                               "data.horizon": config.data.horizon})
            for _, row in table.iterrows():
                mlflow.log_metric(f"{row['model']}_test_{metric}", float(row[metric]))
            mlflow.set_tag("best_model", best)
            model_uri, model_id = log_pyfunc(child_ids[best], trained[best][1] / "model")
            decision = register_and_gate(
                client, model_uri, model_id, child_ids[best], config.tracking.registered_model,
                config.tracking.alias, GatingRule.of(config.tracking),
                read_bundle(trained[best][1])["metrics"], prepared,
                extra_tags={"architecture": best},
            )
            mlflow.set_tag("registered_version", decision.version)
            mlflow.set_tag("promotion", decision.reason)
    except Exception as err:  # noqa: BLE001 - bundles stay on disk for `forecast log-run`
        raise TrackingFailedError(bundles, err) from err
    return CompareResult(parent.info.run_id, table, best, decision)


"""Default task figures: test MAE/MASE per model with and without covariates, epoch time, memory.

Run: .venv/bin/python benchmarks/train_default.py [--config pipelines/configs/default.yaml]
Writes benchmarks/results/train_default.json and .md.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

from results_files import save_results

from forecast import Forecaster, load_config
from forecast.study.profiling import peak_rss_mb, reset_peak_rss


def run(config_path: str, models: list[str]) -> list[dict]:
    rows = []
    for covariates in (True, False):
        overrides = [] if covariates else [
            "data.past_covariates=[]", "data.future_covariates=[]"]
        config = load_config(config_path, overrides + ["trainer.enable_progress_bar=false"])
        for name in models:
            gc.collect()
            base = reset_peak_rss() or 0.0
            start = time.perf_counter()
            forecaster = Forecaster(name, config).fit()
            epochs = forecaster.report.epoch_seconds if forecaster.report else []
            rows.append({
                "model": name, "covariates": covariates,
                "mae": forecaster.metrics["mae"], "mase": forecaster.metrics["mase"],
                "rmse": forecaster.metrics["rmse"],
                "epochs": len(epochs),
                "seconds_per_epoch": sum(epochs) / len(epochs) if epochs else 0.0,
                "total_seconds": time.perf_counter() - start,
                "peak_rss_mb": peak_rss_mb(),
                "peak_rss_increase_mb": peak_rss_mb() - base,
            })
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| model | covariates | test MAE | test MASE | epochs | s/epoch | peak RSS MB "
             "| peak increase MB |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {'yes' if r['covariates'] else 'no'} | {r['mae']:.1f} | "
                     f"{r['mase']:.3f} | {r['epochs']} | {r['seconds_per_epoch']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} | {r.get('peak_rss_increase_mb', float('nan')):.0f} |")
    for cov in (True, False):
        sub = {r["model"]: r["mae"] for r in rows if r["covariates"] == cov}
        neural = {k: v for k, v in sub.items() if k in ("lstm", "gru", "transformer")}
        if neural and "seasonal_naive" in sub:
            best = min(neural, key=neural.get)
            gain = 1 - neural[best] / sub["seasonal_naive"]
            lines.append(f"\nCovariates {'on' if cov else 'off'}: best neural model `{best}` "
                         f"MAE is {100 * gain:.1f}% below seasonal_naive.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="pipelines/configs/default.yaml")
    parser.add_argument("--models", nargs="*",
                        default=["naive", "seasonal_naive", "lstm", "gru", "transformer"])
    args = parser.parse_args()
    rows = run(args.config, args.models)
    save_results("train_default", rows, markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()

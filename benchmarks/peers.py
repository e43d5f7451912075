"""This project's lstm, gru and transformer beside NeuralForecast and Darts on the same windows.

Run:  pip install -e '.[bench]'
      .venv/bin/python benchmarks/peers.py --preset quick   # a few minutes: the plumbing
      .venv/bin/python benchmarks/peers.py --preset full    # the figures in docs/benchmarks.md

For every set (benchmarks/peer_sets.py) and model: test MAE and MASE over non-overlapping
horizon windows, fit + test-forecast wall time, peak RSS increase, and the median latency of
a single-series prediction in process. Writes benchmarks/results/peers_<preset>.{json,md},
docs/images/peers_<preset>.png, and logs one MLflow run (experiment `peer-benchmark`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
from peer_models import (
    FAMILY_OF,
    PEERS,
    Run,
    run_darts,
    run_neuralforecast,
    run_ours,
    run_seasonal_naive,
    settings,
)
from peer_sets import DEFAULT_SETS, SETS, BenchSet, load_set
from results_files import RESULTS, save_results

OURS = ["lstm", "gru", "transformer"]
IMAGES = Path(__file__).parents[1] / "docs" / "images"


def mase_scales(bench: BenchSet) -> dict[str, float]:
    """Per series: mean absolute seasonal difference over everything before the test part."""
    scales = {}
    for uid, g in bench.before_test().groupby("unique_id"):
        y = g["y"].to_numpy()
        scales[uid] = float(np.mean(np.abs(y[bench.season:] - y[:-bench.season])))
    return scales


def score(bench: BenchSet, forecasts: pd.DataFrame, truth: pd.DataFrame,
          scales: dict[str, float]) -> dict[str, float]:
    joined = truth.merge(forecasts, on=["unique_id", "ds"], how="left")
    missing = int(joined["yhat"].isna().sum())
    if missing:
        raise RuntimeError(f"{missing} of {len(joined)} test points have no forecast")
    error = (joined["yhat"] - joined["y"]).abs()
    per_series = error.groupby(joined["unique_id"]).mean()
    mase = float(np.mean([per_series[u] / scales[u] for u in per_series.index]))
    return {"mae": float(error.mean()), "mase": mase}


def models_for(selected: list[str] | None) -> list[tuple[str, str, str]]:
    """(library, model, family) in run order."""
    rows = [("ours", name, name) for name in OURS] + [("baseline", "seasonal_naive", "-")]
    for library, models in PEERS.items():
        rows += [(library, model, FAMILY_OF.get(model, model)) for model in models]
    return [r for r in rows if not selected or r[1] in selected or f"{r[0]}:{r[1]}" in selected]


def run_one(library: str, model: str, bench: BenchSet, preset: str, extra: list[str]) -> Run:
    if library == "ours":
        return run_ours(model, bench, preset, extra)
    if library == "baseline":
        return run_seasonal_naive(bench)
    runner = run_neuralforecast if library == "neuralforecast" else run_darts
    return runner(PEERS[library][model], bench, preset)


def run(preset: str, sets: list[str], selected: list[str] | None, extra: list[str] = ()
        ) -> list[dict]:
    rows = []
    for set_name in sets:
        bench = load_set(set_name, preset)
        truth, scales = bench.truth(), mase_scales(bench)
        for library, model, family in models_for(selected):
            row = {"set": set_name, "library": library, "model": model, "family": family}
            try:
                result = run_one(library, model, bench, preset, extra)
                row.update(score(bench, result.forecasts, truth, scales),
                           fit_seconds=result.fit_seconds, peak_mb=result.peak_mb,
                           latency_ms=result.latency_ms, epochs=result.epochs)
            except Exception as err:  # a peer that fails is reported, the run goes on
                traceback.print_exc()
                row["error"] = f"{type(err).__name__}: {err}"[:300]
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def sets_table(sets: list[str], preset: str) -> str:
    lines = ["| set | series | points | lookback | horizon | test windows per series | why |",
             "|---|---|---|---|---|---|---|"]
    for name in sets:
        b = load_set(name, preset)
        lines.append(f"| {name} | {b.n_series} | {len(b.frame):,} | {b.lookback} | {b.horizon} "
                     f"| {b.test_size // b.horizon} | {b.why} |")
    return "\n".join(lines)


def naive_mae(rows: list[dict]) -> dict[str, float]:
    """Seasonal naive's MAE per set (the yardstick of every ratio), where it ran."""
    return {r["set"]: r["mae"] for r in rows if r["model"] == "seasonal_naive" and "mae" in r}


def results_table(rows: list[dict]) -> str:
    lines = ["| set | library | model | MAE | MASE | vs seasonal naive | fit+forecast s "
             "| epochs | peak MB | 1-series predict ms |", "|---|---|---|---|---|---|---|---|---|---|"]
    naive = naive_mae(rows)
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['set']} | {r['library']} | {r['model']} | failed: "
                         f"{r['error'][:80]} | | | | | | |")
            continue
        ratio = r["mae"] / naive[r["set"]] if naive.get(r["set"]) else float("nan")
        lines.append(f"| {r['set']} | {r['library']} | {r['model']} | {r['mae']:.4g} | "
                     f"{r['mase']:.3f} | {ratio:.2f} | {r['fit_seconds']:.0f} | "
                     f"{r['epochs'] or ''} | {r['peak_mb']:.0f} | {r['latency_ms']:.1f} |")
    return "\n".join(lines)


def family_table(rows: list[dict]) -> str:
    """Per set and family: our MAE over the best peer's of that family."""
    lines = ["| set | family | ours MAE | ours / seasonal naive | best peer (MAE) "
             "| ours / best peer | ours fit s / fastest peer's |", "|---|---|---|---|---|---|---|"]
    ok = [r for r in rows if "error" not in r]
    naive = naive_mae(ok)
    for set_name in dict.fromkeys(r["set"] for r in ok):
        for family in OURS:
            ours = [r for r in ok if r["set"] == set_name and r["library"] == "ours"
                    and r["model"] == family]
            peers = [r for r in ok if r["set"] == set_name and r["library"] not in
                     ("ours", "baseline") and r["family"] == family]
            if not ours or not peers:
                continue
            best = min(peers, key=lambda r: r["mae"])
            fastest = min(peers, key=lambda r: r["fit_seconds"])
            vs_naive = ours[0]["mae"] / naive[set_name] if naive.get(set_name) else float("nan")
            lines.append(f"| {set_name} | {family} | {ours[0]['mae']:.4g} | {vs_naive:.3f} | "
                         f"{best['library']} "
                         f"{best['model']} ({best['mae']:.4g}) | {ours[0]['mae'] / best['mae']:.3f}"
                         f" | {ours[0]['fit_seconds'] / fastest['fit_seconds']:.2f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> Path:
    """MAE relative to seasonal naive, per set and model (below 1 beats it)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "error" not in r]
    naive = naive_mae(ok)
    sets = [s for s in dict.fromkeys(r["set"] for r in ok) if s in naive]
    labels = list(dict.fromkeys(f"{r['library']}:{r['model']}" for r in ok
                                if r["model"] != "seasonal_naive"))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / max(len(labels), 1)
    for k, label in enumerate(labels):
        values = [next((r["mae"] / naive[s] for r in ok if r["set"] == s and
                        f"{r['library']}:{r['model']}" == label), np.nan) for s in sets]
        ax.bar(np.arange(len(sets)) + k * width, values, width, label=label,
               hatch="" if label.startswith("ours") else "//")
    ax.axhline(1.0, color="black", linewidth=1, linestyle="--")
    ax.set_xticks(np.arange(len(sets)) + 0.4 - width / 2, sets)
    ax.set_ylabel("test MAE / seasonal naive MAE")
    ax.set_title("Peer benchmark: lower is better; below the dashed line beats seasonal naive")
    ax.legend(ncol=4, fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(preset: str, sets: list[str], rows: list[dict], seconds: float) -> str:
    differ = "\n".join(f"- **{k}**: {v}" for k, v in settings(preset).items())
    return (f"# Peer benchmark (`--preset {preset}`, {seconds / 60:.0f} min)\n\n## Sets\n\n"
            f"{sets_table(sets, preset)}\n\n## Settings that differ\n\n{differ}\n\n## Results\n\n"
            f"{results_table(rows)}\n\n## Ours against the best peer of the same family\n\n"
            f"{family_table(rows)}\n")


def log_to_mlflow(preset: str, rows: list[dict], files: list[Path]) -> None:
    import mlflow

    mlflow.set_experiment("peer-benchmark")
    with mlflow.start_run(run_name=f"peers-{preset}"):
        mlflow.log_params({"preset": preset, **{f"settings.{k}": v[:490]
                                                 for k, v in settings(preset).items()}})
        for r in rows:
            if "error" not in r:
                key = f"{r['set']}.{r['library']}.{r['model']}"
                mlflow.log_metrics({f"{key}.{m}": r[m] for m in
                                    ("mae", "mase", "fit_seconds", "peak_mb", "latency_ms")})
        for path in files:
            mlflow.log_artifact(str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["quick", "full"], default="quick")
    parser.add_argument("--sets", nargs="*", default=DEFAULT_SETS, choices=list(SETS))
    parser.add_argument("--models", nargs="*", help="model names or library:model to run "
                        "(default: all)")
    parser.add_argument("--override", nargs="*", default=[], help="config overrides for this "
                        "project's models, e.g. model.normalization=series")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = run(args.preset, args.sets, args.models, args.override)
    seconds = time.perf_counter() - start
    name = f"peers_{args.preset}{args.tag}"
    text = markdown(args.preset, args.sets, rows, seconds)
    save_results(name, rows, text)
    image = plot(rows, IMAGES / f"{name}.png")
    if not args.no_mlflow:
        log_to_mlflow(args.preset, rows, [RESULTS / f"{name}.md", RESULTS / f"{name}.json",
                                          image])
    print(text)
    print(f"total {seconds:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()

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
    BUDGETS,
    EXOG_FREE,
    FAMILY_OF,
    PEERS,
    Run,
    every_origin_mae,
    run_darts,
    run_mlforecast,
    run_neuralforecast,
    run_our_ensemble,
    run_ours,
    run_seasonal_naive,
    run_statsforecast,
    settings,
)
from peer_sets import DEFAULT_SETS, SETS, BenchSet, load_set
from results_files import RESULTS, save_results

OURS = ["lstm", "gru", "transformer", "mlp"]
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
    """(library, model, family) in run order: ours first (the ensembles and the equal-time
    budget need them)."""
    rows = [("ours", name, name) for name in OURS] + [("baseline", "seasonal_naive", "-")]
    for library, models in PEERS.items():
        rows += [(library, model, FAMILY_OF.get(model, model)) for model in models]
    return [r for r in rows if not selected or r[1] in selected or f"{r[0]}:{r[1]}" in selected]


SEEDED = ("ours", "neuralforecast", "darts")  # trained from a random start: one row per seed
BUDGETED = ("neuralforecast", "darts")  # trained on a budget: one row per budget asked for
ENSEMBLES = ("median", "weighted")
INPUT_CHOICE = [("neuralforecast", name) for name, model in PEERS["neuralforecast"].items()
                if model not in EXOG_FREE]  # given our calendar features or not (--peer-calendar)
INPUTS = {True: "calendar", False: "data"}


def run_one(library: str, model: str, bench: BenchSet, preset: str, extra: list[str],
            seed: int, budget: str, seconds: float | None, peer_calendar: bool = True) -> Run:
    if library == "ours":
        return run_ours(model, bench, preset, extra, seed)
    if library == "baseline":
        return run_seasonal_naive(bench)
    if library == "statsforecast":
        return run_statsforecast(PEERS[library][model], bench)
    if library == "mlforecast":
        return run_mlforecast(bench)
    if library == "neuralforecast":
        return run_neuralforecast(PEERS[library][model], bench, preset, seed, budget, seconds,
                                  peer_calendar)
    return run_darts(PEERS[library][model], bench, preset, seed, budget, seconds)


def scored(row: dict, bench: BenchSet, result: Run, truth: pd.DataFrame,
           scales: dict[str, float]) -> dict:
    return {**row, **score(bench, result.forecasts, truth, scales),
            "fit_seconds": result.fit_seconds, "peak_mb": result.peak_mb,
            "latency_ms": result.latency_ms, "epochs": result.epochs, "budget": result.budget,
            **({"mae_every_origin": every_origin_mae(result.model)} if result.model else {}),
            **({"weights": result.weights} if result.weights else {}),
            **({"seasonal_input": result.seasonal_input} if result.seasonal_input else {})}


def equal_time(family: str, ours: dict[str, Run]) -> float | None:
    """The seconds our model of the same family took (the mean of ours for other families)."""
    if family in ours:
        return ours[family].fit_seconds
    return float(np.mean([r.fit_seconds for r in ours.values()])) if ours else None


def run(preset: str, sets: list[str], selected: list[str] | None, extra: list[str] = (),
        seeds: list[int] = (0,), budgets: list[str] = ("fixed",), ensembles: bool = True,
        peer_calendar: bool = True) -> list[dict]:
    """Every model on every set and seed; the neural peers once per budget, so the tables of
    several budgets share one training of ours."""
    rows = []
    for set_name in sets:
        bench = load_set(set_name, preset)
        truth, scales = bench.truth(), mase_scales(bench)
        for seed in seeds:
            ours: dict[str, Run] = {}
            for library, model, family in models_for(selected):
                if seed != seeds[0] and library not in SEEDED:
                    continue  # deterministic: one row
                for budget in budgets if library in BUDGETED else (None,):
                    row = {"set": set_name, "library": library, "model": model,
                           "family": family, "seed": seed, "budget_kind": budget,
                           "inputs": INPUTS[peer_calendar] if (library, model) in INPUT_CHOICE
                           else None}
                    try:
                        result = run_one(library, model, bench, preset, extra, seed, budget,
                                         equal_time(family, ours), peer_calendar)
                        if library == "ours":
                            ours[model] = result
                        row = scored(row, bench, result, truth, scales)
                    except Exception as err:  # a peer that fails is reported, the run goes on
                        traceback.print_exc()
                        row["error"] = f"{type(err).__name__}: {err}"[:300]
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            for method in ENSEMBLES if ensembles and len(ours) >= 2 else ():
                row = {"set": set_name, "library": "ours", "model": f"ensemble_{method}",
                       "family": "ensemble", "seed": seed, "budget_kind": None}
                row = scored(row, bench, run_our_ensemble(method, ours, bench), truth, scales)
                rows.append(row)
                print(json.dumps(row), flush=True)
            for result in ours.values():
                result.model = None  # the next seed's models replace them
    return rows


def summaries(rows: list[dict]) -> list[dict]:
    """One row per set, library, model and budget: the mean over seeds, the min and max
    beside it."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["set"], r["library"], r["model"], r.get("budget_kind"),
                           r.get("inputs")), []).append(r)
    out = []
    for same in groups.values():
        ok = [r for r in same if "error" not in r]
        if not ok:
            out.append(same[-1])
            continue
        mean = {k: float(np.mean([r[k] for r in ok])) for k in
                ("mae", "mase", "fit_seconds", "peak_mb", "latency_ms")}
        epochs = [r["epochs"] for r in ok if r.get("epochs")]
        every = [r["mae_every_origin"] for r in ok if "mae_every_origin" in r]
        out.append({**ok[0], **mean, "mae_min": min(r["mae"] for r in ok),
                    "mae_max": max(r["mae"] for r in ok), "seeds": len(ok),
                    "epochs": round(float(np.mean(epochs))) if epochs else None,
                    **({"mae_every_origin": float(np.mean(every)),
                        "mae_every_origin_min": min(every),
                        "mae_every_origin_max": max(every)} if every else {})})
    return out


def spread(r: dict, metric: str = "mae") -> str:
    """'mean (min-max)' over seeds, or the one value; empty where the row has no `metric`."""
    if metric not in r:
        return ""
    if r.get("seeds", 1) > 1:
        return f"{r[metric]:.4g} ({r[metric + '_min']:.4g}-{r[metric + '_max']:.4g})"
    return f"{r[metric]:.4g}"


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
    lines = ["| set | library | model | budget | MAE, mean (min-max) over seeds | MASE "
             "| vs seasonal naive | MAE from every test origin (ours) | fit+forecast s | epochs "
             "| peak MB | 1-series predict ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    summary = summaries(rows)
    naive = naive_mae(summary)
    for r in summary:
        if "error" in r:
            lines.append(f"| {r['set']} | {r['library']} | {r['model']} | | failed: "
                         f"{r['error'][:80]} | | | | | | | |")
            continue
        ratio = r["mae"] / naive[r["set"]] if naive.get(r["set"]) else float("nan")
        lines.append(f"| {r['set']} | {r['library']} | {r['model']} | {r.get('budget', '')} | "
                     f"{spread(r)} | {r['mase']:.3f} | {ratio:.2f} | "
                     f"{spread(r, 'mae_every_origin')} | {r['fit_seconds']:.0f} | "
                     f"{r['epochs'] or ''} | {r['peak_mb']:.0f} | {r['latency_ms']:.1f} |")
    return "\n".join(lines)


def ahead(ours: dict, other: dict) -> str:
    """yes: ours is lower and the seeds' ranges do not overlap; no: the reverse; else within
    the spread. A neural row of one seed has no spread to judge by: said beside it."""
    verdict = "within spread"
    if ours.get("mae_max", ours["mae"]) < other.get("mae_min", other["mae"]):
        verdict = "yes"
    elif other.get("mae_max", other["mae"]) < ours.get("mae_min", ours["mae"]):
        verdict = "no"
    one_seed = any(r["library"] in SEEDED and r.get("seeds", 1) < 2 for r in (ours, other))
    return f"{verdict} (one seed)" if one_seed else verdict


def named(r: dict) -> str:
    """A model as the comparison tables name it: library, model, and its inputs if fewer."""
    return f"{r['library']} {r['model']}" + (" (no calendar)" if r.get("inputs") == "data"
                                              else "")


def scored_at(rows: list[dict], budget: str | None) -> list[dict]:
    """The summaries that ran, the budgeted peers' only at `budget` (all of them if None)."""
    return [r for r in summaries(rows) if "error" not in r and
            (budget is None or r.get("budget_kind") in (None, budget))]


def family_table(rows: list[dict], budget: str | None = None) -> str:
    """Per set and family: our MAE over the best peer's of that family."""
    lines = ["| set | family | ours MAE | ours / seasonal naive | best peer (MAE) "
             "| ours / best peer | ahead (spreads apart) | ours fit s / fastest peer's |",
             "|---|---|---|---|---|---|---|---|"]
    ok = scored_at(rows, budget)
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
            lines.append(f"| {set_name} | {family} | {spread(ours[0])} | {vs_naive:.3f} | "
                         f"{named(best)} ({spread(best)}) | "
                         f"{ours[0]['mae'] / best['mae']:.3f} | {ahead(ours[0], best)} | "
                         f"{ours[0]['fit_seconds'] / fastest['fit_seconds']:.2f} |")
    return "\n".join(lines)


def best_table(rows: list[dict], budget: str | None = None) -> str:
    """Per set: our best model (an ensemble counts) against the best model of any other
    library, and seasonal naive."""
    lines = ["| set | our best | its MAE | best of the others | its MAE | ours / theirs "
             "| ahead (spreads apart) | ours / seasonal naive |", "|---|---|---|---|---|---|---|---|"]
    ok = scored_at(rows, budget)
    naive = naive_mae(ok)
    for set_name in dict.fromkeys(r["set"] for r in ok):
        ours = [r for r in ok if r["set"] == set_name and r["library"] == "ours"]
        others = [r for r in ok if r["set"] == set_name and r["library"] != "ours"]
        if not ours or not others:
            continue
        mine, theirs = min(ours, key=lambda r: r["mae"]), min(others, key=lambda r: r["mae"])
        vs_naive = mine["mae"] / naive[set_name] if naive.get(set_name) else float("nan")
        lines.append(f"| {set_name} | {mine['model']} | {spread(mine)} | {named(theirs)} "
                     f"| {spread(theirs)} | {mine['mae'] / theirs['mae']:.3f} "
                     f"| {ahead(mine, theirs)} | {vs_naive:.3f} |")
    return "\n".join(lines)


DIVERGED = 2.0  # bars above this ratio to seasonal naive are cut there, their value written


def plot(rows: list[dict], path: Path) -> Path:
    """MAE relative to seasonal naive, per set and model (below 1 beats it)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = scored_at(rows, None)
    naive = naive_mae(ok)
    sets = [s for s in dict.fromkeys(r["set"] for r in ok) if s in naive]
    several = len({r.get("budget_kind") for r in ok} - {None}) > 1

    def label_of(r: dict) -> str:
        kind = f" ({r['budget_kind']})" if several and r.get("budget_kind") else ""
        return named(r) + kind

    labels = list(dict.fromkeys(label_of(r) for r in ok if r["model"] != "seasonal_naive"))
    fig, ax = plt.subplots(figsize=(11, 4.5 + 0.12 * len(labels)))
    width = 0.8 / max(len(labels), 1)
    colours = plt.get_cmap("tab20").colors
    for k, label in enumerate(labels):
        values = np.array([next((r["mae"] / naive[s] for r in ok if r["set"] == s and
                                 label_of(r) == label), np.nan) for s in sets])
        x = np.arange(len(sets)) + k * width
        ax.bar(x, np.minimum(values, DIVERGED), width, label=label, color=colours[k % 20],
               hatch="" if label.startswith("ours") else "//")
        for xi, v in zip(x, values, strict=True):  # a diverged model: its bar cut, its value
            if v > DIVERGED:
                ax.text(xi, DIVERGED, f"{v:.0f}", rotation=90, ha="center", va="top",
                        fontsize=6)
    ax.set_ylim(0, DIVERGED)
    ax.axhline(1.0, color="black", linewidth=1, linestyle="--")
    ax.set_xticks(np.arange(len(sets)) + 0.4 - width / 2, sets)
    ax.set_ylabel("test MAE / seasonal naive MAE")
    ax.set_title("Peer benchmark: lower is better; below the dashed line beats seasonal naive")
    ax.legend(ncol=3, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


BUDGET_TITLES = {"fixed": "the neural peers on the fixed budget",
                 "defaults": "the neural peers at their own defaults",
                 "time": "the neural peers at equal wall-clock time (ours for the same family)"}


def comparisons(rows: list[dict], budgets: list[str]) -> str:
    """The two comparison tables, once per budget the neural peers ran on."""
    parts = []
    for budget in budgets:
        title = f" ({BUDGET_TITLES[budget]})" if len(budgets) > 1 else ""
        parts.append(f"## Our best model against the best of the other libraries{title}\n\n"
                     f"{best_table(rows, budget)}\n\n"
                     f"## Ours against the best peer of the same family{title}\n\n"
                     f"{family_table(rows, budget)}\n")
    return "\n".join(parts)


def weights_table(rows: list[dict]) -> str:
    """Per set and seed, the weights the weighted ensemble chose on validation (a candidate
    absent from a seed's ensemble weighs 0); empty when no row holds any."""
    chosen = [r for r in rows if r.get("weights")]
    if not chosen:
        return ""
    names = list(dict.fromkeys(n for r in chosen for n in r["weights"]))
    lines = [f"| set | seed | {' | '.join(names)} |", "|---|---|" + "---|" * len(names)]
    for r in chosen:
        lines.append(f"| {r['set']} | {r.get('seed', 0)} | "
                     + " | ".join(f"{r['weights'].get(n, 0.0):.2f}" for n in names) + " |")
    return ("## The weighted ensemble's weights, chosen on validation\n\n"
            + "\n".join(lines) + "\n\n")


def seasonal_input_table(rows: list[dict]) -> str:
    """Per set, family and seed, what `model.rnn.seasonal_input: auto` compared on the
    validation windows and chose; empty when no row holds it."""
    decided = [r for r in rows if r.get("seasonal_input")]
    if not decided:
        return ""
    lines = ["| set | family | seed | validation MAE: plain | seasonal naive | with the input "
             "| chosen |", "|---|---|---|---|---|---|---|"]
    for r in decided:
        c = r["seasonal_input"]
        tried = c.get("val_mae_with_seasonal_input")
        lines.append(f"| {r['set']} | {r['model']} | {r.get('seed', 0)} | "
                     f"{c['val_mae_without_seasonal_input']:,.1f} | "
                     f"{c['val_mae_seasonal_naive']:,.1f} | "
                     f"{'not tried' if tried is None else f'{tried:,.1f}'} | "
                     f"{'the input' if c['seasonal_input_chosen'] else 'plain'} |")
    return ("## The seasonal input's `auto`, decided on validation\n\n"
            + "\n".join(lines) + "\n\n")


def markdown(preset: str, sets: list[str], rows: list[dict], seconds: float,
             budgets: list[str] = ("fixed",)) -> str:
    differ = "\n".join(f"- **{k}**: {v}" for k, v in settings(preset).items())
    seeds = sorted({r.get("seed", 0) for r in rows})
    return (f"# Peer benchmark (`--preset {preset} --budget {' '.join(budgets)}`, seeds {seeds}, "
            f"{seconds / 60:.0f} min)\n\n## Sets\n\n"
            f"{sets_table(sets, preset)}\n\n## Settings that differ\n\n{differ}\n\n"
            f"Neural rows are the mean over the seeds, with the range (min-max) beside it; "
            f"statistical models, LightGBM and seasonal naive are deterministic (one run).\n\n"
            f"## Results\n\n{results_table(rows)}\n\n{weights_table(rows)}"
            f"{seasonal_input_table(rows)}"
            f"{comparisons(rows, list(budgets))}")


def log_to_mlflow(preset: str, rows: list[dict], files: list[Path]) -> None:
    import mlflow

    mlflow.set_experiment("peer-benchmark")
    with mlflow.start_run(run_name=f"peers-{preset}"):
        mlflow.log_params({"preset": preset, **{f"settings.{k}": v[:490]
                                                 for k, v in settings(preset).items()}})
        for r in summaries(rows):
            if "error" not in r:
                kind = "".join(f".{r[k]}" for k in ("budget_kind", "inputs") if r.get(k))
                key = f"{r['set']}.{r['library']}.{r['model']}{kind}"
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
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds of the "
                        "neural models (ours, NeuralForecast, Darts); the issue's runs use 0 1 2")
    parser.add_argument("--budget", nargs="+", choices=BUDGETS, default=["fixed"],
                        help="the neural peers' training budgets in the full preset, each a "
                        "row of its own: fixed (300 steps of 32 windows), defaults (each "
                        "library's own), time (ours for the same family)")
    parser.add_argument("--peer-calendar", choices=["yes", "no"], default="yes",
                        help="give NeuralForecast our calendar features as futr_exog (yes: "
                        "the same inputs as ours) or only the data's own covariates")
    parser.add_argument("--no-ensembles", action="store_true", help="skip our ensembles")
    parser.add_argument("--tag", default="", help="suffix of the result files, after an "
                        "underscore: --tag nhits writes peers_<preset>_nhits.*")
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = run(args.preset, args.sets, args.models, args.override, args.seeds, args.budget,
               not args.no_ensembles, args.peer_calendar == "yes")
    seconds = time.perf_counter() - start
    name = "_".join(part for part in ("peers", args.preset, args.tag.lstrip("_")) if part)
    text = markdown(args.preset, args.sets, rows, seconds, args.budget)
    save_results(name, rows, text)
    image = plot(rows, IMAGES / f"{name}.png")
    if not args.no_mlflow:
        log_to_mlflow(args.preset, rows, [RESULTS / f"{name}.md", RESULTS / f"{name}.json",
                                          image])
    print(text)
    print(f"total {seconds:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()

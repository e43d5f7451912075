"""How a panel's series share the training loss (`model.loss_weighting`): the same family
trained with `equal` (every series alike, in its own scaled units) and `scale` (each in
proportion to its training spread: the loss in the data's units), scored on the peer
benchmark's test windows with its own functions (MAE in the data's units, MASE, the ratio
to seasonal naive). Every row is the mean over `--seeds` with the range (min-max).

Single-series sets (vic_elec) are left out: with one series every weight is 1 and the two
settings train the same model (a test holds that).

Run: .venv/bin/python benchmarks/loss_weighting.py [--sets tourism air_quality robust ...]
     [--models lstm gru transformer] [--seeds 0 1 2] [--output loss_weighting]
Prints one line per set, family and weighting as it goes; writes
benchmarks/results/OUTPUT.json and .md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from peer_models import run_ours, run_seasonal_naive  # noqa: E402
from peer_sets import SETS, BenchSet, load_set  # noqa: E402
from peers import mase_scales, score  # noqa: E402
from results_files import save_results  # noqa: E402

WEIGHTINGS = ("equal", "scale")
PANEL_SETS = ["tourism", "air_quality", "robust", "pedestrian", "panel"]


def measure(bench: BenchSet, truth: pd.DataFrame, scales: dict[str, float], family: str,
            weighting: str, seeds: list[int], naive_mae: float) -> dict:
    maes, mases, seconds = [], [], []
    for seed in seeds:
        start = time.perf_counter()
        run = run_ours(family, bench, "full", [f"model.loss_weighting={weighting}"], seed)
        scored = score(bench, run.forecasts, truth, scales)
        maes.append(scored["mae"])
        mases.append(scored["mase"])
        seconds.append(time.perf_counter() - start)
    return {"set": bench.name, "family": family, "weighting": weighting, "seeds": seeds,
            "mae": maes, "mase": mases, "seconds": seconds,
            "mae_mean": float(np.mean(maes)), "mase_mean": float(np.mean(mases)),
            "vs_seasonal_naive": float(np.mean(maes)) / naive_mae}


def figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def spread(values: list[float]) -> str:
    return f"{figure(float(np.mean(values)))} ({figure(min(values))}-{figure(max(values))})"


def markdown(rows: list[dict], naive: dict[str, dict]) -> str:
    lines = ["| set | family | MAE, equal | MAE, scale | scale / equal | ranges apart | "
             "MASE equal / scale | seasonal naive MAE (MASE) |", "|---|---|---|---|---|---|---|---|"]
    keyed = {(r["set"], r["family"], r["weighting"]): r for r in rows}
    for (set_name, family, weighting), equal in keyed.items():
        scale = keyed.get((set_name, family, "scale"))
        if weighting != "equal" or scale is None:
            continue
        apart = max(scale["mae"]) < min(equal["mae"]) or min(scale["mae"]) > max(equal["mae"])
        lines.append(
            f"| {set_name} | {family} | {spread(equal['mae'])} | {spread(scale['mae'])} | "
            f"{scale['mae_mean'] / equal['mae_mean']:.3f} | {'yes' if apart else 'no'} | "
            f"{equal['mase_mean']:.3f} / {scale['mase_mean']:.3f} | "
            f"{figure(naive[set_name]['mae'])} ({naive[set_name]['mase']:.3f}) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="*", default=PANEL_SETS, choices=sorted(SETS))
    parser.add_argument("--models", nargs="*", default=["lstm", "gru", "transformer"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--output", default="loss_weighting")
    args = parser.parse_args()
    rows, naive = [], {}
    for set_name in args.sets:
        bench = load_set(set_name, "full")
        truth, scales = bench.truth(), mase_scales(bench)  # once a set: every row scores on them
        naive[set_name] = score(bench, run_seasonal_naive(bench).forecasts, truth, scales)
        for family in args.models:
            for weighting in WEIGHTINGS:
                row = measure(bench, truth, scales, family, weighting, args.seeds,
                              naive[set_name]["mae"])
                rows.append(row)
                print(f"{set_name} {family} {weighting}: MAE {spread(row['mae'])}, "
                      f"{row['vs_seasonal_naive']:.3f} of seasonal naive, "
                      f"MASE {row['mase_mean']:.3f}", flush=True)
                save_results(args.output, {"rows": rows, "seasonal_naive": naive},
                             markdown(rows, naive))
    print(markdown(rows, naive))


if __name__ == "__main__":
    main()

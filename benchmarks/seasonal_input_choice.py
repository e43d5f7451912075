"""What `model.rnn.seasonal_input: auto` decides on each set, and on what evidence: the plain
network's selecting fit scored on the validation windows against seasonal naive, and, where
it trails, the fit with the seasonal input (same seed). Runs the library's own decision
(`forecast.training.with_seasonal_input_if_better`) without the refit that follows it, so a
row costs one or two fits; the model `auto` trains end to end is the one the explicit setting
of its choice trains (tests/forecast/test_seasonal_skip.py), so its test figures are that
setting's.

Run: .venv/bin/python benchmarks/seasonal_input_choice.py [--sets pedestrian robust ...]
     [--models lstm gru] [--seeds 0 1 2] [--output seasonal_input_choice]
Prints one line per set, family and seed; writes benchmarks/results/OUTPUT.json and .md after
every row.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from peer_models import our_config  # noqa: E402
from peer_sets import SETS, load_set  # noqa: E402
from results_files import save_results  # noqa: E402

from forecast.datamodule import prepare  # noqa: E402
from forecast.evaluation import evaluate  # noqa: E402
from forecast.training import (  # noqa: E402
    SEASONAL_INPUT,
    first_fit,
    with_seasonal_input_if_better,
)


def decide(set_name: str, family: str, seed: int) -> dict:
    bench = load_set(set_name, "full")
    start = time.perf_counter()
    config = our_config(bench, "full", [f"trainer.seed={seed}", "trainer.refit=false",
                                        f"{SEASONAL_INPUT}=auto"])
    config, prepared = prepare(config.with_model(family), bench.frame)
    plain = first_fit(config.with_values({SEASONAL_INPUT: False}), prepared)
    plain_test = evaluate(plain.predictor, prepared, "test")["mae"]
    kept = with_seasonal_input_if_better(config, prepared, plain)
    choice = kept.report.seasonal_input
    return {"set": set_name, "family": family, "seed": seed, **choice.metrics(),
            "chosen": choice.chosen, "tried": choice.with_input is not None,
            "test_mae_without": plain_test,
            "test_mae_kept": evaluate(kept.predictor, prepared, "test")["mae"],
            "seconds": time.perf_counter() - start}


def markdown(rows: list[dict]) -> str:
    lines = ["| set | family | plain network / seasonal naive, validation MAE (per seed) | "
             "input tried | input kept | with input / plain, validation (where tried) |",
             "|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["set"], r["family"]), []).append(r)
    for (set_name, family), group in groups.items():
        ratios = ", ".join(f"{r['val_mae_without_seasonal_input'] / r['val_mae_seasonal_naive']:.3f}"
                           for r in group)
        tried = [r for r in group if r["tried"]]
        gains = ", ".join(f"{r['val_mae_with_seasonal_input'] / r['val_mae_without_seasonal_input']:.3f}"
                          for r in tried) or "-"
        lines.append(f"| {set_name} | {family} | {ratios} | {len(tried)} of {len(group)} | "
                     f"{sum(r['chosen'] for r in group)} of {len(group)} | {gains} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=["tourism", "air_quality", "robust"],
                        choices=sorted(SETS))
    parser.add_argument("--models", nargs="+", default=["lstm", "gru"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--output", default="seasonal_input_choice")
    args = parser.parse_args()
    rows = []
    for set_name in args.sets:
        for family in args.models:
            for seed in args.seeds:
                row = decide(set_name, family, seed)
                rows.append(row)
                print(f"{set_name} {family} seed {seed}: plain/naive on validation "
                      f"{row['val_mae_without_seasonal_input'] / row['val_mae_seasonal_naive']:.3f}"
                      f", input tried {row['tried']}, kept {row['chosen']}, "
                      f"{row['seconds']:.0f} s", flush=True)
                save_results(args.output, {"rows": rows, "mean_seconds": float(
                    np.mean([r["seconds"] for r in rows]))}, markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()

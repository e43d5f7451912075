"""The README's figures, generated from the benchmark results they quote, so a figure lives in
one place (benchmarks/results/*.json) and the README cannot drift from it.

    python benchmarks/readme_figures.py          # rewrite the README's generated blocks
    python benchmarks/readme_figures.py --check  # exit 1 if the README differs (a test runs it)
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
sys.path.insert(0, str(ROOT))


def peer_table() -> str:
    rows = json.loads((RESULTS / "peers_full.json").read_text())
    lines = ["| set | family | this project: test MAE (fit s) | best peer of the family "
             "| ours / best peer | ours / seasonal naive |", "|---|---|---|---|---|---|"]
    for set_name in dict.fromkeys(r["set"] for r in rows):
        here = [r for r in rows if r["set"] == set_name]
        naive = next(r["mae"] for r in here if r["model"] == "seasonal_naive")
        for family in ("lstm", "gru", "transformer"):
            ours = next(r for r in here if r["library"] == "ours" and r["family"] == family)
            peers = [r for r in here if r["library"] not in ("ours", "baseline")
                     and r["family"] == family]
            best = min(peers, key=lambda r: r["mae"])
            mark = "**" if ours["mae"] <= best["mae"] else ""
            lines.append(
                f"| {set_name} | {family} | {mark}{ours['mae']:,.1f}{mark} "
                f"({ours['fit_seconds']:.0f} s) | {best['library']} {best['model']} "
                f"{best['mae']:,.1f} ({best['fit_seconds']:.0f} s) | "
                f"{ours['mae'] / best['mae']:.3f} | {ours['mae'] / naive:.3f} |")
    return "\n".join(lines)


# Where it stands at today's defaults: per set, the `peers.py` run of all four families and
# their ensembles at the configuration a user gets with no settings (three seeds unless a row
# says otherwise), and the files holding peers at their own defaults (NeuralForecast rows run with `--budget
# defaults`; statsforecast and LightGBM have no other budget).
STANDING_SETS = {
    "tourism": ("304 quarterly series", "peers_full_jitter_now"),
    "air_quality": ("3 daily", "peers_full_jitter_now"),
    "robust": ("4 hourly, shifted", "peers_full_jitter_now"),
    "pedestrian": ("3 hourly", "peers_full_jitter_pedestrian"),
    "panel": ("100 hourly", "peers_full_jitter_panel"),
    "vic_elec": ("half-hourly", "peers_full_jitter_vic_elec"),
}
STANDING_PEERS = ["peers_full_defaults", "peers_full_nhits_defaults_hourly",
                  "peers_full_practitioners", "peers_full_practitioners_lgbm",
                  "peers_full_practitioners_stats_ped", "peers_full_new_sets",
                  "peers_full_darts_defaults_tourism", "peers_full_gpu_defaults"]
OUR_NAMES = {"ensemble_weighted": "weighted ensemble", "ensemble_median": "median ensemble"}
PEER_NAMES = {("neuralforecast", "nhits"): "NHITS", ("neuralforecast", "patchtst"): "PatchTST",
              ("mlforecast", "lightgbm"): "LightGBM", ("statsforecast", "autoets"): "AutoETS",
              ("statsforecast", "mstl"): "MSTL", ("neuralforecast", "lstm"): "NeuralForecast LSTM",
              ("neuralforecast", "gru"): "NeuralForecast GRU"}


@functools.cache  # a file can serve several sets
def result_rows(name: str) -> list[dict]:
    """A `peers.py` results file's rows (set, library, model, seed, mae, ...)."""
    return json.loads((RESULTS / f"{name}.json").read_text())


def by_model(rows: list[dict]) -> dict[tuple, list[float]]:
    """MAE per seed of each (library, model, budget): a peer run with and without our
    calendar features is two entries."""
    maes: dict[tuple, list[float]] = {}
    for r in rows:
        maes.setdefault((r["library"], r["model"], r.get("budget", "")), []).append(r["mae"])
    return maes


def spread_text(maes: list[float]) -> str:
    digits = 0 if min(maes) >= 1000 else 2 if min(maes) < 100 else 1
    mean = f"{statistics.fmean(maes):,.{digits}f}"
    if len(set(maes)) == 1:
        return mean
    seeds = "" if len(maes) == 3 else f"{len(maes)} seeds, "
    return f"{mean} ({seeds}{min(maes):,.{digits}f}-{max(maes):,.{digits}f})"


def at_defaults(row: dict) -> bool:
    return row["library"] in ("statsforecast", "mlforecast") or row.get("budget_kind") == "defaults"


def standing_table() -> str:
    peers = [r for name in STANDING_PEERS for r in result_rows(name) if at_defaults(r)]
    lines = ["| set | our best | best peer at its defaults | ours / peer | ours / seasonal naive |",
             "|---|---|---|---|---|"]
    for set_name, (what, name) in STANDING_SETS.items():
        rows = [r for r in result_rows(name) if r["set"] == set_name]
        ours = by_model([r for r in rows if r["library"] == "ours"])
        naive = next(r["mae"] for r in rows if r["model"] == "seasonal_naive")
        (_, model, _), maes = min(ours.items(), key=lambda kv: statistics.fmean(kv[1]))
        theirs = by_model([r for r in peers if r["set"] == set_name])
        (library, peer, _), peer_maes = min(theirs.items(),
                                            key=lambda kv: statistics.fmean(kv[1]))
        mean, peer_mean = statistics.fmean(maes), statistics.fmean(peer_maes)
        ratio = f"{mean / peer_mean:.2f}"
        name = OUR_NAMES.get(model, model)
        members = [m for (_, m, _) in ours if m not in OUR_NAMES]
        if model in OUR_NAMES and len(members) < 4:  # compare trains all four families
            name += f" of the {' and '.join(members)}"
        lines.append(f"| {set_name} ({what}) | {name} {spread_text(maes)} "
                     f"| {PEER_NAMES.get((library, peer), f'{library} {peer}')} {spread_text(peer_maes)} | "
                     f"{ratio if mean <= peer_mean else f'**{ratio}**'} | {mean / naive:.2f} |")
    return "\n".join(lines)


def serving_line() -> str:
    rows = json.loads((RESULTS / "serve_load.json").read_text())

    def at(server: str, concurrency: int) -> dict:
        return next(r for r in rows if r["model"] == "transformer" and r["server"] == server
                    and r["concurrency"] == concurrency and r["copies_default"])

    one, many, mlflow = at("bentoml-w1", 1), at("bentoml-w1", 32), at("mlflow", 32)
    return (f"Serving the transformer (its default {one['copies']} copies) on the same 2 cores "
            f"(`python benchmarks/serve_load.py`): "
            f"p50 {one['p50_ms']:.1f} ms at concurrency 1; at concurrency 32, "
            f"{many['rps']:.0f} requests/s with p99 {many['p99_ms']:.0f} ms, "
            f"{many['rps'] / mlflow['rps']:.1f}x the throughput of `mlflow models serve` on the "
            f"same model.")


def stream_line() -> str:
    path = RESULTS / "stream.json"
    if not path.exists():
        return "(run `python benchmarks/stream.py` for the figures)"
    result = json.loads(path.read_text())
    on, off = result["adaptive on"], result["adaptive off"]

    def both(part: dict, key: str, digits: int = 2) -> str:
        return f"{part['mean'][key]:.{digits}f} +- {part['sd'][key]:.{digits}f}"

    return (f"Over seeds {result['seeds']} (mean +- sd): the status turned degraded "
            f"{both(on, 'days_to_degraded', 1)} days after the shift (a three-day window). The "
            f"80% interval held {both(on, 'coverage_calm')} of actuals before it and "
            f"{both(on, 'coverage_first_shifted_day')} on its first day; over the shift's last "
            f"week it held {both(on, 'coverage_shift_last_7_days')} with adaptive offsets and "
            f"{both(off, 'coverage_shift_last_7_days')} without. Live MAE went from "
            f"{both(on, 'mae_shift_last_4_days', 1)} (the old version, last four shifted days) "
            f"to {both(on, 'mae_after_retrain', 1)} after `forecast retrain` (calm days: "
            f"{both(on, 'mae_calm', 1)}). The picture is the first seed; "
            "`benchmarks/results/stream.md` has the table.")


def frequency_table() -> str:
    from forecast.data.defaults import table_markdown

    return table_markdown()


BLOCKS = {"standing": standing_table, "peers": peer_table, "serving": serving_line,
          "frequencies": frequency_table, "stream": stream_line}


def render(text: str) -> str:
    """`text` with each `<!-- generated:NAME -->...<!-- /generated:NAME -->` block filled."""
    for name, make in BLOCKS.items():
        start, end = f"<!-- generated:{name} -->", f"<!-- /generated:{name} -->"
        if start not in text:
            raise SystemExit(f"README has no block {start}")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{make()}\n{end}{tail}"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    current = README.read_text()
    wanted = render(current)
    if args.check:
        if current != wanted:
            print("README.md's generated figures differ from benchmarks/results: run "
                  "python benchmarks/readme_figures.py")
            return 1
        return 0
    README.write_text(wanted)
    print("README.md figures regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())

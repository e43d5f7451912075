"""The README's figures, generated from the benchmark results they quote, so a figure lives in
one place (benchmarks/results/*.json) and the README cannot drift from it.

    python benchmarks/readme_figures.py          # rewrite the README's generated blocks
    python benchmarks/readme_figures.py --check  # exit 1 if the README differs (a test runs it)
"""

from __future__ import annotations

import argparse
import json
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


def serving_line() -> str:
    rows = json.loads((RESULTS / "serve_load.json").read_text())

    def at(server: str, concurrency: int) -> dict:
        return next(r for r in rows if r["model"] == "transformer" and r["server"] == server
                    and r["concurrency"] == concurrency)

    one, many, mlflow = at("bentoml-w1", 1), at("bentoml-w1", 32), at("mlflow", 32)
    return (f"Serving the transformer on the same 2 cores (`python benchmarks/serve_load.py`): "
            f"p50 {one['p50_ms']:.1f} ms at concurrency 1; at concurrency 32, "
            f"{many['rps']:.0f} requests/s with p99 {many['p99_ms']:.0f} ms, "
            f"{many['rps'] / mlflow['rps']:.1f}x the throughput of `mlflow models serve` on the "
            f"same model.")


def stream_line() -> str:
    path = RESULTS / "stream.json"
    if not path.exists():
        return "(run `python benchmarks/stream.py` for the figures)"
    on = json.loads(path.read_text())["adaptive on"]["summary"]
    off = json.loads(path.read_text())["adaptive off"]["summary"]
    days = on["days_to_degraded"]
    when = "on the shift's first day" if days == 0 else f"{days} day(s) after the shift"
    return (f"The status turned degraded {when} (a three-day window). "
            f"The 80% interval held {on['coverage_calm']:.2f} of actuals before it and "
            f"{on['coverage_first_shifted_day']:.2f} on its first day; over the shift's last "
            f"week it held {on['coverage_shift_last_7_days']:.2f} with adaptive offsets and "
            f"{off['coverage_shift_last_7_days']:.2f} without. Live MAE went from "
            f"{on['mae_shift_last_4_days']:.1f} (the old version, last four shifted days) to "
            f"{on['mae_after_retrain']:.1f} after `forecast retrain` promoted "
            f"v{on['retrained_to']} (calm days: {on['mae_calm']:.1f}). One seed; "
            "`benchmarks/results/stream.md` has every day.")


def frequency_table() -> str:
    from forecast.data.defaults import table_markdown

    return table_markdown()


BLOCKS = {"peers": peer_table, "serving": serving_line, "frequencies": frequency_table,
          "stream": stream_line}


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

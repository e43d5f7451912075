"""Rebuild a peer-benchmark report from the JSON rows `peers.py` prints, one per line.

For runs split across sessions or cut short: `python benchmarks/peers_report.py --preset full
--name peers_full run1.log run2.log` writes benchmarks/results/<name>.{json,md} and
docs/images/<name>.png from every row found, in order, the later of two rows for the same
set, model, budget, inputs and seed winning.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from peer_models import budget_text
from peers import IMAGES, INPUT_CHOICE, INPUTS, markdown, plot
from results_files import save_results


def with_inputs(row: dict, old_inputs: str) -> dict:
    """A row from a log written before rows recorded their inputs: NeuralForecast's models
    that take exog had `old_inputs` (calendar: ours's calendar features; data: none)."""
    if "inputs" in row or (row["library"], row["model"]) not in INPUT_CHOICE:
        return row
    return {**row, "inputs": old_inputs,
            "budget": budget_text(row.get("budget", ""), old_inputs == "data")}


def rows_from(paths: list[str], old_inputs: str = "calendar") -> list[dict]:
    found: dict[tuple, dict] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.startswith("{") and '"set"' in line:
                row = with_inputs(json.loads(line), old_inputs)
                found[(row["set"], row["library"], row["model"], row.get("budget_kind"),
                       row.get("inputs"), row.get("seed", 0))] = row
    return list(found.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--preset", default="full")
    parser.add_argument("--name", default="peers_full")
    parser.add_argument("--minutes", type=float, default=0.0, help="wall time of the runs")
    parser.add_argument("--old-inputs", choices=list(INPUTS.values()), default="calendar",
                        help="what NeuralForecast had in logs from before rows recorded it: "
                        "calendar (the fixed budget always) or data (the defaults and time "
                        "budgets before --peer-calendar)")
    args = parser.parse_args()
    rows = rows_from(args.logs, args.old_inputs)
    sets = list(dict.fromkeys(r["set"] for r in rows))
    budgets = list(dict.fromkeys(r["budget_kind"] for r in rows if r.get("budget_kind")))
    text = markdown(args.preset, sets, rows, 60 * args.minutes, budgets or ["fixed"])
    save_results(args.name, rows, text)
    plot(rows, IMAGES / f"{args.name}.png")
    print(text)


if __name__ == "__main__":
    main()

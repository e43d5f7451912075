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

from peers import IMAGES, markdown, plot
from results_files import save_results


def rows_from(paths: list[str]) -> list[dict]:
    found: dict[tuple, dict] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.startswith("{") and '"set"' in line:
                row = json.loads(line)
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
    args = parser.parse_args()
    rows = rows_from(args.logs)
    sets = list(dict.fromkeys(r["set"] for r in rows))
    budgets = list(dict.fromkeys(r["budget_kind"] for r in rows if r.get("budget_kind")))
    text = markdown(args.preset, sets, rows, 60 * args.minutes, budgets or ["fixed"])
    save_results(args.name, rows, text)
    plot(rows, IMAGES / f"{args.name}.png")
    print(text)


if __name__ == "__main__":
    main()

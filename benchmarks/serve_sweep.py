"""The sweep behind the service's batching and thread defaults, in one run.

For each model (at its default copies), one `bentoml serve` per setting of
FORECAST_MAX_BATCH_SIZE x FORECAST_TORCH_THREADS, one worker, loaded at each concurrency
by `serve_load`'s generator: requests/s and p50/p99. The defaults are chosen on this table;
rerun it when the model or the machine changes (docs/serving.md).

Run: .venv/bin/python benchmarks/serve_sweep.py [--models transformer lstm]
[--batches 16 32 64] [--threads 1 2] [--levels 32 64] [--seconds 8] [--output serve_sweep]
Writes benchmarks/results/<output>.json and .md.
"""

from __future__ import annotations

import argparse

from results_files import save_results
from serve_load import bentoml_command, bentoml_env, measure, register, request_frames, scratch_store


def markdown(rows: list[dict], levels: list[int]) -> str:
    head = "| model | copies | batch | threads | " + " | ".join(
        f"c={c} req/s | c={c} p50 ms | c={c} p99 ms" for c in levels) + " | errors |"
    lines = [head, "|" + "---|" * (5 + 3 * len(levels))]
    cells = dict.fromkeys((r["model"], r["copies"], r["batch"], r["threads"]) for r in rows)
    for model, copies, batch, threads in cells:
        same = {r["concurrency"]: r for r in rows if (r["model"], r["batch"], r["threads"])
                == (model, batch, threads)}
        figures = " | ".join(f"{same[c]['rps']:.0f} | {same[c]['p50_ms']:.1f} | "
                             f"{same[c]['p99_ms']:.1f}" for c in levels)
        errors = sum(r["errors"] for r in same.values())
        lines.append(f"| {model} | {copies} | {batch} | {threads} | {figures} | {errors} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["transformer"])
    parser.add_argument("--batches", nargs="+", type=int, default=[16, 32, 64])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--levels", nargs="+", type=int, default=[32, 64])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--output", default="serve_sweep")
    args = parser.parse_args()
    workdir, store = scratch_store("serve-sweep-")
    body = request_frames()[0]
    rows = []
    for name in args.models:
        _, copies = register(name, workdir)
        for batch in args.batches:
            for threads in args.threads:
                env = {"MLFLOW_TRACKING_URI": store, **bentoml_env(
                    name, 1, workdir, FORECAST_MAX_BATCH_SIZE=str(batch),
                    FORECAST_TORCH_THREADS=str(threads))}
                rows += measure(bentoml_command(), "/predict", body, env, "/readyz",
                                args.levels, args.seconds,
                                workdir / f"{name}-b{batch}-t{threads}.log",
                                {"model": name, "copies": copies, "batch": batch,
                                 "threads": threads})
    text = (f"# Serving settings swept, one worker, {args.seconds:g} s a cell, one run\n\n"
            f"`python benchmarks/serve_sweep.py --models {' '.join(args.models)} --batches "
            f"{' '.join(map(str, args.batches))} --threads "
            f"{' '.join(map(str, args.threads))} --levels {' '.join(map(str, args.levels))}`"
            "\n\n" + markdown(rows, args.levels))
    save_results(args.output, rows, text)
    print(text)


if __name__ == "__main__":
    main()

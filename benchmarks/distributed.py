"""Training past one process: DDP epoch time, and what a tuning study buys.

1. Epoch time on the default task (transformer, full default config, one epoch) with one
   process using 2 threads, and with 2 DDP processes (gloo) using 1 thread each, on the same
   machine: `epoch_seconds` as the run logged it.
2. `forecast tune` with `--trials` trials (default 20) for the transformer and the lstm on the
   `--budget` preset (default quick: a few batches per epoch, so the study fits in minutes),
   then the tuned and the preset's own configuration trained on the same budget: test MAE of
   each, on the same test windows.

Run: .venv/bin/python benchmarks/distributed.py [--trials 20] [--budget quick]
Writes benchmarks/results/distributed.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mlflow import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.tracking import child_env  # noqa: E402

RESULTS = Path(__file__).parent / "results"
FORECAST = str(Path(sys.executable).with_name("forecast"))


def forecast(args: list[str], workdir: Path, store: str, threads: int | None = None) -> str:
    env = {"MLFLOW_TRACKING_URI": store, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    done = subprocess.run([FORECAST, *args], env=child_env(env), cwd=workdir,
                          capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"forecast {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def last_run(client: MlflowClient, experiment: str):
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id],
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0]


def epoch_time(workdir: Path, store: str, client: MlflowClient) -> dict:
    quiet = ["--set", "trainer.max_epochs=1", "--set", "trainer.enable_progress_bar=false"]
    rows = {}
    for label, extra, threads in (("1 process, 2 threads", [], 2),
                                  ("2 DDP processes, 1 thread each",
                                   ["--devices", "2", "--strategy", "ddp"], 1)):
        experiment = "epoch-" + label.split()[0]
        forecast(["train", "--config", "default", "--model", "transformer", *quiet, "--set",
                  f"tracking.experiment={experiment}", *extra], workdir, store, threads)
        run = last_run(client, experiment)
        seconds = client.get_metric_history(run.info.run_id, "epoch_seconds")[0].value
        rows[label] = {"epoch_seconds": seconds, "test_mae": run.data.metrics["test_mae"]}
        print(label, rows[label], flush=True)
    return rows


def tuned_against_preset(model: str, trials: int, budget: str, workdir: Path, store: str,
                         client: MlflowClient) -> dict:
    best = workdir / f"tuned-{model}.yaml"
    forecast(["tune", "--model", model, "--trials", str(trials), "--config", budget,
              "--storage", f"sqlite:///{workdir / 'optuna.db'}", "--output", str(best),
              "--set", "trainer.enable_progress_bar=false", "--set",
              "tracking.experiment=tuning"], workdir, store)
    maes = {}
    for label, config in (("preset", budget), ("tuned", str(best))):
        experiment = f"{model}-{label}"
        forecast(["train", "--config", config, "--model", model, "--set",
                  "trainer.enable_progress_bar=false", "--set",
                  f"tracking.experiment={experiment}"], workdir, store)
        maes[f"{label}_test_mae"] = last_run(client, experiment).data.metrics["test_mae"]
    print(model, maes, flush=True)
    return maes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--budget", default="quick", help="preset or file the study trains with")
    parser.add_argument("--models", nargs="*", default=["transformer", "lstm"])
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="distributed-bench-"))
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = store
    client = MlflowClient(store)
    results = {"cores": os.cpu_count(), "epoch_time": epoch_time(workdir, store, client),
               "tuning": {"trials": args.trials, "budget": args.budget,
                          **{m: tuned_against_preset(m, args.trials, args.budget, workdir,
                                                     store, client) for m in args.models}}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "distributed.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""NeuralForecast's networks at their own defaults, trained on a GPU: the peers this project's
2-core CPU cannot train in a session (PatchTST's 5,000 steps of 1,024 windows; LSTM and GRU's
1,000 of 128, 5-18 minutes a fit there).

Three steps; the middle one runs on the GPU machine and needs only pandas, torch and
neuralforecast, not this project:

  python benchmarks/gpu_peers.py export [--sets ...] [--data .gpu_data]
  python benchmarks/gpu_peers.py fit --data .gpu_data --out DIR [--workers 8] [--deadline 480] > log
  python benchmarks/gpu_peers.py score --forecasts DIR [DIR ...] [--output peers_full_gpu_defaults]

`export` writes each set's frame (with the calendar features ours computes, as columns) and
its task. `fit` trains every (set, model, inputs, seed) job at the model's defaults, several
at once on the one GPU, exactly as `peer_models.run_neuralforecast` does at `--budget
defaults` (`cross_validation` over the test part, `refit=False`), and writes the forecasts
after each job, so a run stopped at its deadline keeps what finished. `score` scores them as
`peers.py` does and saves them in its row format, beside our families from the standing runs.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
import types
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import pandas as pd

HOURLY = ["vic_elec", "pedestrian", "robust", "panel"]
PATCHTST_SETS = [*HOURLY, "air_quality"]  # tourism's PatchTST at its defaults ran on CPU
RNN_SETS = ["vic_elec", "robust", "panel"]  # pedestrian's ran on CPU
NETWORKS = {"patchtst": "PatchTST", "lstm": "LSTM", "gru": "GRU"}


# ---- export (here) -----------------------------------------------------------------------
def export(sets: list[str], data: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from peer_models import with_calendar
    from peer_sets import load_set

    data.mkdir(parents=True, exist_ok=True)
    tasks = {}
    for name in sets:
        bench = load_set(name, "full")
        frame, calendar = with_calendar(bench.frame, bench.calendar)
        frame.to_parquet(data / f"{name}.parquet", index=False)
        tasks[name] = {"freq": bench.freq, "lookback": bench.lookback, "horizon": bench.horizon,
                       "test_size": bench.test_size, "past": bench.past_covariates,
                       "future": bench.future_covariates, "calendar": calendar}
        print(f"{name}: {len(frame):,} rows", flush=True)
    (data / "tasks.json").write_text(json.dumps(tasks, indent=1))


# ---- fit (the GPU machine) ---------------------------------------------------------------
class _Anything(type):
    """A class whose attributes and calls are more such classes: what NeuralForecast's Auto
    models touch of Ray and Optuna at import time, which the models trained here never use."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything(name, (), {})

    def __call__(cls, *args, **kwargs):
        return _Anything("result", (), {})


class _AbsentPackages(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of Ray and Optuna (tens of MB of wheels the GPU machine lacks) as stand-ins."""

    ROOTS = ("ray", "optuna")

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.ROOTS:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = lambda name: _Anything(name, (), {})
        return module

    def exec_module(self, module):
        pass


def _prepare_worker(threads: int) -> None:
    import logging

    import torch

    sys.meta_path.insert(0, _AbsentPackages())
    torch.set_num_threads(threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)


def fit_one(job: dict, data: str, accelerator: str = "gpu", max_steps: int | None = None
            ) -> tuple[dict, pd.DataFrame]:
    """One NeuralForecast model at its defaults (`max_steps` only for a smoke run of the
    plumbing), forecasting every test window of one set."""
    import torch
    from neuralforecast import NeuralForecast
    from nf_network import nf_network

    task = json.loads((Path(data) / "tasks.json").read_text())[job["set"]]
    frame = pd.read_parquet(Path(data) / f"{job['set']}.parquet")
    name = NETWORKS[job["model"]]
    calendar = task["calendar"] if job["inputs"] == "calendar" else []
    frame = frame.drop(columns=[c for c in task["calendar"] if c not in calendar])
    network = nf_network(name, task["horizon"], task["lookback"], job["seed"], task["past"],
                         task["future"] + calendar, accelerator,
                         **({"max_steps": max_steps} if max_steps else {}))
    start = time.perf_counter()
    out = NeuralForecast(models=[network], freq=task["freq"]).cross_validation(
        df=frame, n_windows=task["test_size"] // task["horizon"], step_size=task["horizon"],
        refit=False)
    seconds = time.perf_counter() - start
    forecasts = out.reset_index()[["unique_id", "ds", name]].rename(columns={name: "yhat"})
    device = torch.cuda.get_device_name(0) if accelerator == "gpu" else "CPU"
    done = {**job, "fit_seconds": seconds, "device": device,
            "budget": f"{network.max_steps} steps x {network.windows_batch_size} windows"}
    return done, forecasts.assign(job=job["id"])


def jobs(seeds: list[int]) -> list[dict]:
    """In the order they matter: PatchTST (the Transformer's peer, missing on every hourly
    set), then the recurrent peers with our calendar features, then without."""
    wanted = [(s, "patchtst", None) for s in PATCHTST_SETS]
    wanted += [(s, m, "calendar") for s in RNN_SETS for m in ("gru", "lstm")]
    wanted += [(s, m, "data") for s in RNN_SETS for m in ("gru", "lstm")]
    every = [(s, m, inputs, seed) for s, m, inputs in wanted for seed in seeds]
    return [{"id": i, "set": s, "model": m, "inputs": inputs, "seed": seed}
            for i, (s, m, inputs, seed) in enumerate(every)]


def fit(data: Path, out: Path, workers: int, deadline: float, seeds: list[int],
        only: list[str] | None, accelerator: str, max_steps: int | None,
        ids: list[int] | None = None, threads: int = 2) -> None:
    """Every wanted job, `workers` at a time; given `ids`, in their order (the ones that
    matter most first, since a deadline may stop the rest)."""
    started = time.perf_counter()
    todo = [j for j in jobs(seeds) if not only or j["set"] in only]
    if ids:
        todo = sorted((j for j in todo if j["id"] in ids), key=lambda j: ids.index(j["id"]))
    out.mkdir(parents=True, exist_ok=True)
    done, forecasts = [], []
    pool = ProcessPoolExecutor(workers, initializer=_prepare_worker, initargs=(threads,))
    running = {pool.submit(fit_one, job, str(data), accelerator, max_steps): job for job in todo}
    while running:
        left = deadline - (time.perf_counter() - started)
        if left <= 0:
            break
        finished, _ = wait(running, timeout=left, return_when=FIRST_COMPLETED)
        for future in finished:
            job = running.pop(future)
            try:
                result, frame = future.result()
                done.append(result)
                forecasts.append(frame)
            except Exception as err:  # one failing job is reported, the others go on
                done.append({**job, "error": f"{type(err).__name__}: {err}"[:300]})
            print(json.dumps(done[-1]), flush=True)
        if finished:
            if forecasts:
                pd.concat(forecasts).to_parquet(out / "forecasts.parquet", index=False)
            (out / "jobs.json").write_text(json.dumps(done, indent=1))
    print(f"{len([d for d in done if 'error' not in d])} of {len(todo)} jobs in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    if running:  # past the deadline: leave the unfinished ones behind (they hold stdout open,
        os._exit(0)  # so send the output to a file, not a pipe)
    pool.shutdown()


# ---- score (here) ------------------------------------------------------------------------
def score(forecast_dirs: list[Path], output: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import peers
    from peer_models import FAMILY_OF, budget_text
    from peer_sets import load_set
    from readme_figures import STANDING_SETS, result_rows
    from results_files import save_results

    done = [j for d in forecast_dirs for j in json.loads((d / "jobs.json").read_text())]
    forecasts = pd.concat(pd.read_parquet(d / "forecasts.parquet") for d in forecast_dirs)
    sets = {job["set"] for job in done}
    truth = {s: load_set(s, "full").truth() for s in sets}
    scales = {s: peers.mase_scales(load_set(s, "full")) for s in sets}
    rows = []
    for job in done:
        row = {"set": job["set"], "library": "neuralforecast", "model": job["model"],
               "family": FAMILY_OF.get(job["model"], job["model"]), "seed": job["seed"],
               "budget_kind": "defaults", "inputs": job["inputs"]}
        if "error" in job:
            rows.append({**row, "error": job["error"]})
            continue
        mine = forecasts[forecasts["job"] == job["id"]].drop(columns="job")
        rows.append({**row, **peers.score(load_set(job["set"], "full"), mine, truth[job["set"]],
                                          scales[job["set"]]),
                     "fit_seconds": job["fit_seconds"], "peak_mb": 0.0, "latency_ms": 0.0,
                     "epochs": None, "device": job["device"],
                     "budget": budget_text(f"{job['budget']} on an {job['device']}",
                                           job["inputs"] == "data")})
    runs = sorted({name for _, name in STANDING_SETS.values()})
    standing = [r for name in runs for r in result_rows(name) if r["set"] in sets
                and (r["library"] == "ours" or r["model"] == "seasonal_naive")]
    text = ("# NeuralForecast at its defaults on a GPU, beside ours at today's defaults\n\n"
            f"`python benchmarks/gpu_peers.py` (export, fit, score); ours from the standing "
            f"runs ({', '.join(runs)}).\n\n"
            "## Ours against the same family's peer at its defaults\n\n"
            "The last column sets our 2-core CPU's seconds against the GPU's, several fits "
            "sharing it: it says nothing about either library's speed.\n\n"
            + peers.family_table([*standing, *rows], "defaults") + "\n\n## Every model\n\n"
            + peers.results_table([*standing, *rows]) + "\n")
    save_results(output, rows, text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    ex = steps.add_parser("export")
    ex.add_argument("--sets", nargs="+", default=sorted({*PATCHTST_SETS, *RNN_SETS}))
    ex.add_argument("--data", type=Path, default=Path(".gpu_data"))
    ft = steps.add_parser("fit")
    ft.add_argument("--data", type=Path, default=Path(".gpu_data"))
    ft.add_argument("--out", type=Path, required=True)
    ft.add_argument("--workers", type=int, default=8)
    ft.add_argument("--deadline", type=float, default=480.0, help="seconds; then stop")
    ft.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ft.add_argument("--sets", nargs="*", default=None, help="only these sets")
    ft.add_argument("--jobs", nargs="*", type=int, default=None,
                    help="only these job ids, run in the order given (a second run finishing "
                         "what a first left; the ids depend on --seeds, so give the same)")
    ft.add_argument("--threads", type=int, default=2, help="torch threads in each worker")
    ft.add_argument("--accelerator", default="gpu")
    ft.add_argument("--max-steps", type=int, default=None,
                    help="a smoke run of the plumbing only: the figures need the defaults")
    sc = steps.add_parser("score")
    sc.add_argument("--forecasts", type=Path, nargs="+", required=True,
                    help="fit's output folders (job ids are the same in every run)")
    sc.add_argument("--output", default="peers_full_gpu_defaults")
    args = parser.parse_args()
    if args.step == "export":
        export(args.sets, args.data)
    elif args.step == "fit":
        fit(args.data, args.out, args.workers, args.deadline, args.seeds, args.sets,
            args.accelerator, args.max_steps, args.jobs, args.threads)
    else:
        score(args.forecasts, args.output)


if __name__ == "__main__":
    main()

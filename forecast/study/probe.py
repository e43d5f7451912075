"""Measure one (family, lookback) in a fresh process, so peak memory is that model's alone.

`python -m forecast.study.probe '{"family": "lstm", "lookback": 336, ...}'` prints JSON.
The parent sets MALLOC_MMAP_THRESHOLD_ so large buffers go back to the OS when freed and
each peak starts from a clean slate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from ..models import ModelDims
from .profiling import family_model, measure


def run_probe(spec: dict) -> dict:
    torch.manual_seed(0)
    dims = ModelDims(spec["lookback"], spec["horizon"], spec["n_features"], 0, 0, 1)
    model = family_model(spec["family"], dims, spec["width"], spec["patch_len"],
                         spec.get("hidden"))
    return measure(model, dims, spec["train_batch"], spec["infer_batch"], spec["repeats"])


def probe_in_subprocess(spec: dict, timeout: float = 1800) -> dict:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run([sys.executable, "-m", "forecast.study.probe", json.dumps(spec)],
                          capture_output=True, text=True, env=env, timeout=timeout, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(run_probe(json.loads(sys.argv[1]))))

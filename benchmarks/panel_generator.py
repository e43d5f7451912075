"""Many series like vic_elec, made in code: its hour-of-week demand profile, with per-series
scale, phase, trend and noise. Deterministic by seed, written as Parquet in row groups so a
panel of thousands of series never sits in memory as one pandas frame.

Run: .venv/bin/python benchmarks/panel_generator.py --series 10000 --days 730 --output p.parquet
"""

from __future__ import annotations

import argparse
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from forecast.data import load_vic_elec

START = pd.Timestamp("2013-01-01")


@lru_cache(maxsize=1)
def weekly_profile() -> np.ndarray:
    """vic_elec's mean demand per hour of the week (168 values), scaled to mean 1."""
    frame = load_vic_elec()
    hourly = frame.set_index("ds")["y"].resample("h").mean().dropna()
    profile = hourly.groupby(hourly.index.day_of_week * 24 + hourly.index.hour).mean()
    return (profile / profile.mean()).to_numpy()


def chunk_values(ids: range, length: int, seed: int) -> np.ndarray:
    """(len(ids), length): per series, scale x (profile shifted by a phase) x trend, plus
    AR(1) noise. Each series draws from its own seeded generator, so chunks do not matter."""
    hours = np.arange(length)
    rows, shocks = [], []
    for index in ids:
        rng = np.random.default_rng([seed, index])
        scale = float(np.exp(rng.normal(5.0, 1.0)))  # levels from about 20 to 1,000+
        phase = int(rng.integers(0, 24))  # hours: sites in other time zones, other habits
        trend = rng.normal(0.0, 0.15) / length  # up to about +-15% over the whole span
        shape = np.roll(weekly_profile(), phase)[(hours + START.day_of_week * 24) % 168]
        rows.append(scale * shape * (1 + trend * hours))
        shocks.append(scale * rng.normal(0.0, rng.uniform(0.02, 0.08), length))
    signal, shocks = np.stack(rows), np.stack(shocks)
    noise = np.empty_like(shocks)
    noise[:, 0] = shocks[:, 0]
    for t in range(1, length):  # AR(1) across the chunk at once: persistent deviations
        noise[:, t] = 0.8 * noise[:, t - 1] + shocks[:, t]
    return signal + noise


def panel_chunks(n_series: int, days: int, seed: int = 0, chunk: int = 200):
    """Arrow tables of `chunk` series each: unique_id (dictionary), ds, y (float32)."""
    length = days * 24
    ds = pd.date_range(START, periods=length, freq="h").to_numpy()
    for first in range(0, n_series, chunk):
        ids = range(first, min(first + chunk, n_series))
        y = chunk_values(ids, length, seed).reshape(-1).astype(np.float32)
        names = pa.array([f"series_{i:06d}" for i in ids])
        codes = pa.array(np.repeat(np.arange(len(ids), dtype=np.int32), length))
        yield pa.table({"unique_id": pa.DictionaryArray.from_arrays(codes, names),
                        "ds": pa.array(np.tile(ds, len(ids))), "y": pa.array(y)})


def write_panel(path: Path, n_series: int, days: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    for table in panel_chunks(n_series, days, seed):
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    write_panel(args.output, args.series, args.days, args.seed)
    print(f"{args.series} series x {args.days * 24} hours written to {args.output}")


if __name__ == "__main__":
    main()

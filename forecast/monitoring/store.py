"""The forecast log: every served forecast per series and step, the actuals as they arrive,
and the adaptive offsets in force, in one SQL database through SQLAlchemy Core.

A SQLite file by default (no server to start), PostgreSQL in the compose stack. Actuals are
keyed on (unique_id, ds): sending them twice stores them once, a corrected value replaces
the old one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from .adaptive import DEFAULT_RATES, AdaptiveOffsets

metadata = MetaData()
# One row per served series forecast, its steps packed as little-endian arrays (writing one
# row per step cost the service 45% of its throughput at concurrency 32, JSON arrays 9%);
# `joined` expands them into one row per series and step.
forecasts = Table(
    "forecast_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(50), nullable=False),
    Column("request_id", String(64)),
    Column("unique_id", String(200), nullable=False, index=True),
    Column("origin", DateTime, nullable=False, index=True),  # the last ds of the history
    Column("first_ds", DateTime, nullable=False),
    Column("last_ds", DateTime, nullable=False),
    Column("ds_ns", LargeBinary, nullable=False),  # int64: each step's target, ns since 1970
    Column("median", LargeBinary, nullable=False),  # float64: one per step
    Column("levels", String(400)),  # JSON: the served quantile levels
    Column("quantiles", LargeBinary),  # float64: steps x levels, as served
    Column("scale", Float),  # the series' training standard deviation
    Column("mase_scale", Float),  # its in-sample seasonal-naive MAE (MASE denominator)
    Column("train_mean", Float),
    Column("created_at", DateTime, nullable=False, index=True),
)
actuals = Table(
    "forecast_actuals", metadata,
    Column("unique_id", String(200), primary_key=True),
    Column("ds", DateTime, primary_key=True),
    Column("y", Float, nullable=False),
    Column("received_at", DateTime, nullable=False),
)
# which (forecast, step) pairs already moved the adaptive offsets: each does so once
adapted = Table(
    "forecast_adapted", metadata,
    Column("forecast_id", Integer, primary_key=True),
    Column("step", Integer, primary_key=True),
)
offsets = Table(
    "forecast_offsets", metadata,
    Column("model_name", String(200), primary_key=True),
    Column("model_version", String(50), primary_key=True),
    Column("level", Float, primary_key=True),
    Column("offset", Float, nullable=False),
    Column("updates", Integer, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
# the trackers behind each served offset: one row per level and rate (a table of its own, so
# a log written before them gains it without a migration; its trackers start at its offsets)
trackers = Table(
    "forecast_offset_trackers", metadata,
    Column("model_name", String(200), primary_key=True),
    Column("model_version", String(50), primary_key=True),
    Column("level", Float, primary_key=True),
    Column("rate", Float, primary_key=True),
    Column("offset", Float, nullable=False),
    Column("loss", Float, nullable=False),  # its pinball loss, discounted (loss_memory)
    Column("gap", Float, nullable=False),  # the level's AdaHedge mixability gap
)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class ForecastRecord:
    """One series' served forecast: H steps, each with its median and quantiles."""

    model_name: str
    model_version: str
    request_id: str
    unique_id: str
    origin: pd.Timestamp
    ds: pd.DatetimeIndex
    median: np.ndarray  # (H,)
    levels: tuple[float, ...]
    quantiles: np.ndarray  # (H, Q)
    scale: float
    mase_scale: float
    train_mean: float

    def row(self, created_at: datetime) -> dict:
        ns = np.asarray(self.ds, dtype="datetime64[ns]").view("<i8")  # no pandas on this path
        return {"model_name": self.model_name, "model_version": self.model_version,
                "request_id": self.request_id, "unique_id": self.unique_id,
                "origin": pd.Timestamp(self.origin).to_pydatetime(),
                "first_ds": _datetime(ns[0]), "last_ds": _datetime(ns[-1]),
                "ds_ns": ns.tobytes(),
                "median": np.asarray(self.median, dtype="<f8").tobytes(),
                "levels": json.dumps([float(q) for q in self.levels]),
                "quantiles": np.asarray(self.quantiles, dtype="<f8").tobytes(),
                "scale": float(self.scale), "mase_scale": float(self.mase_scale),
                "train_mean": float(self.train_mean), "created_at": created_at}


def window_start(latest: datetime, days: float) -> datetime:
    """The monitoring window: origins of the last `days` days, back from the latest one."""
    return latest - timedelta(days=days)


def in_window(joined: pd.DataFrame, days: float) -> pd.DataFrame:
    """The rows of `joined` (any versions' scored forecasts) in the monitoring window."""
    if joined.empty:
        return joined
    return joined[joined["origin"] >= window_start(joined["origin"].max(), days)]


def _datetime(ns: np.int64) -> datetime:
    return datetime(1970, 1, 1) + timedelta(microseconds=int(ns) // 1000)


@dataclass(frozen=True)
class ActualsResult:
    received: int  # rows in the body
    matched: int  # of them, (unique_id, ds) pairs that some logged forecast targets
    unmatched: int  # stored too, in case a forecast for them is logged later


def _upsert(engine: Engine, table: Table, rows: list[dict], keys: list[str],
            values: list[str]):
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET values, in SQLite's or PostgreSQL's words."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(rows)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={v: statement.excluded[v] for v in values})


def _parse_json_lists(column: pd.Series) -> np.ndarray:
    """A column of JSON lists of equal length as one (N, Q) array: one json.loads for all."""
    if column.empty:
        return np.zeros((0, 0))
    return np.asarray(json.loads("[" + ",".join(column.tolist()) + "]"), dtype=np.float64)


class ForecastLog:
    """The log store. Every method opens its own short transaction; the engine's pool makes
    that cheap. Creating it creates the tables (safe when workers start together)."""

    def __init__(self, url: str, connect_timeout_s: float = 10.0):
        self.url = url
        connect_args = ({"timeout": 30} if url.startswith("sqlite")
                        else {"connect_timeout": int(connect_timeout_s)})
        self.engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
        self.ensure_schema()

    def ensure_schema(self, tries: int = 5) -> None:
        for attempt in range(tries):
            try:
                metadata.create_all(self.engine, checkfirst=True)
                return
            except (OperationalError, ProgrammingError) as err:
                if "already exists" not in str(err) or attempt == tries - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))  # another worker is creating them

    def close(self) -> None:
        self.engine.dispose()

    # ---- writes ---------------------------------------------------------------------
    def write_forecasts(self, records: list[ForecastRecord]) -> int:
        """Store served forecasts; returns the (series, step) points they hold."""
        created = utc_now()
        rows = [record.row(created) for record in records]
        if rows:
            with self.engine.begin() as connection:
                connection.execute(forecasts.insert(), rows)
        return sum(len(record.ds) for record in records)

    def add_actuals(self, frame: pd.DataFrame) -> ActualsResult:
        """Upsert `frame` (unique_id, ds, y): idempotent on (unique_id, ds)."""
        if frame.empty:
            return ActualsResult(0, 0, 0)
        now = utc_now()
        rows = [{"unique_id": str(u), "ds": pd.Timestamp(d).to_pydatetime(), "y": float(y),
                 "received_at": now}
                for u, d, y in zip(frame["unique_id"], frame["ds"], frame["y"], strict=True)]
        with self.engine.begin() as connection:
            for i in range(0, len(rows), 2000):  # bound the statement's parameters
                connection.execute(_upsert(self.engine, actuals, rows[i:i + 2000],
                                           ["unique_id", "ds"], ["y", "received_at"]))
        keys = pd.DataFrame({"unique_id": frame["unique_id"].astype(str),
                             "ds": pd.to_datetime(frame["ds"])}).drop_duplicates()
        targeted = self._targeted(keys)
        return ActualsResult(len(frame), targeted, len(keys) - targeted)

    def _targeted(self, keys: pd.DataFrame) -> int:
        """How many of the (unique_id, ds) pairs some logged forecast targets."""
        steps = self._steps([forecasts.c.unique_id.in_(keys["unique_id"].unique().tolist()),
                             forecasts.c.last_ds >= keys["ds"].min().to_pydatetime(),
                             forecasts.c.first_ds <= keys["ds"].max().to_pydatetime()],
                            columns=False)
        if steps.empty:
            return 0
        hits = keys.merge(steps[["unique_id", "ds"]].drop_duplicates(), on=["unique_id", "ds"])
        return len(hits)

    def prune(self, retention_days: float) -> int:
        """Delete forecasts logged, and actuals received, more than `retention_days` ago."""
        cutoff = utc_now() - timedelta(days=retention_days)
        with self.engine.begin() as connection:
            old = select(forecasts.c.id).where(forecasts.c.created_at < cutoff)
            connection.execute(delete(adapted).where(adapted.c.forecast_id.in_(old)))
            gone = connection.execute(delete(forecasts).where(forecasts.c.created_at < cutoff))
            connection.execute(delete(actuals).where(actuals.c.received_at < cutoff))
        return gone.rowcount or 0

    # ---- reads ----------------------------------------------------------------------
    def versions(self, model_name: str) -> list[str]:
        query = select(forecasts.c.model_version).where(
            forecasts.c.model_name == model_name).distinct()
        with self.engine.connect() as connection:
            return sorted((r[0] for r in connection.execute(query)), key=_version_key)

    def latest_origin(self, model_name: str, model_version: str) -> datetime | None:
        query = select(func.max(forecasts.c.origin)).where(
            forecasts.c.model_name == model_name, forecasts.c.model_version == model_version)
        with self.engine.connect() as connection:
            value = connection.execute(query).scalar()
        return pd.Timestamp(value).to_pydatetime() if value is not None else None

    def window(self, model_name: str, model_version: str, days: float) -> pd.DataFrame:
        """`joined` for the origins of the last `days` days, back from the latest origin
        (`in_window`, read in SQL)."""
        latest = self.latest_origin(model_name, model_version)
        if latest is None:
            return self.joined(model_name, model_version)
        return self.joined(model_name, model_version, since=window_start(latest, days))

    def model_versions(self) -> list[tuple[str, str, tuple[float, ...]]]:
        """Every (model name, version, served levels) with forecasts in the log."""
        query = select(forecasts.c.model_name, forecasts.c.model_version,
                       func.max(forecasts.c.levels)).group_by(forecasts.c.model_name,
                                                               forecasts.c.model_version)
        with self.engine.connect() as connection:
            rows = list(connection.execute(query))
        return [(str(n), str(v), tuple(json.loads(levels or "[]"))) for n, v, levels in rows]

    def _steps(self, conditions: list, columns: bool = True) -> pd.DataFrame:
        """The logged forecasts matching `conditions`, one row per series and step."""
        wanted = [forecasts.c.id, forecasts.c.unique_id, forecasts.c.ds_ns]
        if columns:
            wanted += [forecasts.c.model_name, forecasts.c.model_version, forecasts.c.origin,
                       forecasts.c.median, forecasts.c.levels, forecasts.c.quantiles,
                       forecasts.c.scale, forecasts.c.mase_scale, forecasts.c.train_mean]
        with self.engine.connect() as connection:
            frame = pd.read_sql(select(*wanted).where(*conditions), connection)
        return _expand(frame)

    def joined(self, model_name: str, model_version: str | None = None,
               since: datetime | None = None, only_unadapted: bool = False) -> pd.DataFrame:
        """Logged forecasts that have their actual, one row per series and step (`id` the
        forecast's, `step` from 1), with one column per quantile level ("0.1", ...)."""
        conditions = [forecasts.c.model_name == model_name]
        if model_version is not None:
            conditions.append(forecasts.c.model_version == model_version)
        if since is not None:
            conditions.append(forecasts.c.origin >= since)
        steps = self._steps(conditions)
        if steps.empty:
            return steps
        query = select(actuals.c.unique_id, actuals.c.ds, actuals.c.y).where(
            actuals.c.ds >= steps["ds"].min().to_pydatetime(),
            actuals.c.ds <= steps["ds"].max().to_pydatetime())
        with self.engine.connect() as connection:
            truth = pd.read_sql(query, connection)
            done = (pd.read_sql(select(adapted.c.forecast_id, adapted.c.step).where(
                adapted.c.forecast_id >= int(steps["id"].min())), connection)
                if only_unadapted else None)
        truth["ds"] = pd.to_datetime(truth["ds"])
        out = steps.merge(truth, on=["unique_id", "ds"], how="inner")
        if done is not None and len(done):
            done = done.rename(columns={"forecast_id": "id"}).assign(_done=True)
            out = out.merge(done, on=["id", "step"], how="left")
            out = out[out["_done"].isna()].drop(columns="_done")
        return out.sort_values(["ds", "step", "id"], kind="stable").reset_index(drop=True)

    def actuals_frame(self) -> pd.DataFrame:
        with self.engine.connect() as connection:
            return pd.read_sql(select(actuals.c.unique_id, actuals.c.ds, actuals.c.y)
                               .order_by(actuals.c.unique_id, actuals.c.ds), connection)

    # ---- adaptive offsets -----------------------------------------------------------
    def offsets(self, model_name: str, model_version: str, levels: tuple[float, ...],
                rates: tuple[float, ...] = DEFAULT_RATES) -> AdaptiveOffsets:
        """The version's trackers at `rates`. Where the stored ones ran at other rates (the
        setting changed) or none are stored, every tracker starts at the stored offset."""
        version = (offsets.c.model_name == model_name, offsets.c.model_version == model_version)
        mine = (trackers.c.model_name == model_name, trackers.c.model_version == model_version)
        with self.engine.connect() as connection:
            found = list(connection.execute(select(offsets.c.level, offsets.c.offset,
                                                   offsets.c.updates).where(*version)))
            rows = list(connection.execute(
                select(trackers.c.level, trackers.c.rate, trackers.c.offset, trackers.c.loss,
                       trackers.c.gap).where(*mine).order_by(trackers.c.level, trackers.c.rate)))
        updates = max((int(r[2]) for r in found), default=0)
        start, rates = {float(r[0]): float(r[1]) for r in found}, tuple(sorted(rates))
        stored: dict[float, list] = {}
        for level, rate, offset, loss, gap in rows:
            stored.setdefault(float(level), []).append((float(rate), offset, loss, gap))
        kept = {q: v for q, v in stored.items()
                if q in levels and tuple(rate for rate, *_ in v) == rates}
        if len(kept) < len(levels) - (0.5 in levels):  # none stored, or at other rates
            return AdaptiveOffsets(tuple(levels), start, updates, rates)
        return AdaptiveOffsets(
            tuple(levels), start, updates, rates,
            trackers={q: np.array([o for _, o, _, _ in v]) for q, v in kept.items()},
            losses={q: np.array([loss for _, _, loss, _ in v]) for q, v in kept.items()},
            gaps={q: float(v[0][3]) for q, v in kept.items()})

    def save_offsets(self, model_name: str, model_version: str, state: AdaptiveOffsets,
                     learnt_from: list[tuple[int, int]]) -> None:
        """Store the offsets and their trackers and mark the forecasts they learnt from, in
        one transaction, so an actual sent twice never moves them twice."""
        now = utc_now()
        rows = [{"model_name": model_name, "model_version": model_version, "level": float(q),
                 "offset": float(state.offset(q)), "updates": state.updates, "updated_at": now}
                for q in state.levels]
        tracked = [{"model_name": model_name, "model_version": model_version,
                    "level": float(q), "rate": float(rate), "offset": float(theta),
                    "loss": float(loss), "gap": float(state.gaps[q])}
                   for q in state.trackers
                   for rate, theta, loss in zip(state.rates, state.trackers[q],
                                                state.losses[q], strict=True)]
        with self.engine.begin() as connection:
            connection.execute(_upsert(self.engine, offsets, rows,
                                       ["model_name", "model_version", "level"],
                                       ["offset", "updates", "updated_at"]))
            connection.execute(trackers.delete().where(
                trackers.c.model_name == model_name, trackers.c.model_version == model_version))
            if tracked:
                connection.execute(trackers.insert(), tracked)
            pairs = [{"forecast_id": int(f), "step": int(h)} for f, h in learnt_from]
            for i in range(0, len(pairs), 5000):
                connection.execute(adapted.insert(), pairs[i:i + 5000])


def _version_key(version: str):
    return (0, int(version)) if str(version).isdigit() else (1, str(version))


def _expand(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per series forecast -> one row per series and step, the packed arrays read
    with numpy and the quantiles as one column per level."""
    if frame.empty:
        return pd.DataFrame(columns=["id", "unique_id", "ds", "step"])
    ds = [np.frombuffer(bytes(b), dtype="<i8") for b in frame["ds_ns"]]
    lengths = np.array([len(v) for v in ds])
    out = pd.DataFrame({"id": np.repeat(frame["id"].to_numpy(), lengths),
                        "unique_id": np.repeat(frame["unique_id"].to_numpy(), lengths),
                        "ds": pd.to_datetime(np.concatenate(ds)),
                        "step": np.concatenate([np.arange(1, n + 1) for n in lengths])})
    if "median" not in frame:
        return out
    for column in ("model_name", "model_version", "origin", "scale", "mase_scale",
                   "train_mean"):
        out[column] = np.repeat(frame[column].to_numpy(), lengths)
    out["origin"] = pd.to_datetime(out["origin"])
    out["median"] = np.concatenate([np.frombuffer(bytes(b), dtype="<f8")
                                    for b in frame["median"]])
    row_of_step = np.repeat(np.arange(len(frame)), lengths)
    levels_of_row = frame["levels"].to_numpy()
    for levels in pd.unique(levels_of_row):  # versions may serve different levels
        names = [f"{q:g}" for q in json.loads(levels)]
        rows = np.flatnonzero(levels_of_row == levels)
        values = np.concatenate([np.frombuffer(bytes(frame["quantiles"].iloc[i]), dtype="<f8")
                                 .reshape(-1, len(names)) for i in rows])
        mask = np.isin(row_of_step, rows)
        for j, name in enumerate(names):
            column = out[name].to_numpy() if name in out else np.full(len(out), np.nan)
            column[mask] = values[:, j]
            out[name] = column
    return out

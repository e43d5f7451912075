"""`forecast study`: measure the RNN-vs-attention claims on this machine and report them.

Four experiments, each a function returning a table: speed/memory against lookback, a
long-range dependency task with gradient norms, real-data accuracy against lookback, and
attention maps on vic_elec. `write_report` turns them into Markdown with figures.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field
from torch.utils.data import DataLoader

from forecast import Forecaster, load_config
from forecast.config import ConfigError
from forecast.models import ModelDims
from forecast.module import ForecastModule
from forecast.study.attention import lag_profile, mean_attention
from forecast.study.gradients import input_gradient_by_distance
from forecast.study.probe import probe_in_subprocess
from forecast.study.profiling import (
    FAMILIES,
    count_parameters,
    family_model,
    growth_exponent,
    matched_rnn_hidden,
    thread_speedup,
)
from forecast.study.synthetic import DependencyStream, dependency_length, make_dependency_batch

from . import study_plots

CONFIG_DIR = Path(__file__).with_name("configs")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpeedSettings(_Section):
    lookbacks: list[int] = [48, 96, 192, 336, 720, 1440, 2880]
    width: int = 32
    patch_len: int = 24
    n_features: int = 4
    horizon: int = 48
    train_batch: int = 8
    infer_batch: int = 64
    repeats: int = 3
    thread_lookback: int = 720


class DependencySettings(_Section):
    distances: list[int] = [8, 32, 128, 512, 1024]
    families: list[str] = list(FAMILIES)
    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 3e-3
    width: int = 32
    patch_len: int = 8
    n_test: int = 512
    gradient_length: int = 1040
    gradient_seeds: int = 3


class RealSettings(_Section):
    lookbacks: list[int] = [48, 336, 672, 1344]
    models: list[str] = ["lstm", "gru", "transformer"]
    config: str = "quick"
    overrides: list[str] = Field(default_factory=list)


class AttentionSettings(_Section):
    config: str = "quick"
    patch_len: int = 6
    windows: int = 32
    overrides: list[str] = Field(default_factory=list)


class StudySettings(_Section):
    speed: SpeedSettings = Field(default_factory=SpeedSettings)
    dependency: DependencySettings = Field(default_factory=DependencySettings)
    real: RealSettings = Field(default_factory=RealSettings)
    attention: AttentionSettings = Field(default_factory=AttentionSettings)
    output_dir: str = "study-output"
    experiment: str = "study"
    seed: int = 0


def load_study_settings(path: Path | None) -> StudySettings:
    if path is None:
        return StudySettings()
    if not path.is_file():
        raise ConfigError(f"study config not found: {path}")
    try:
        return StudySettings.model_validate(yaml.safe_load(path.read_text()) or {})
    except Exception as err:  # pydantic ValidationError, YAML errors
        raise ConfigError(f"invalid study config {path}: {err}") from None


def _config_path(name: str) -> Path:
    path = Path(name)
    return path if path.exists() else CONFIG_DIR / f"{name}.yaml"


# ---- 1. speed and memory -------------------------------------------------------------------
def run_speed(s: SpeedSettings, progress) -> tuple[pd.DataFrame, dict]:
    rows = []
    for lookback in s.lookbacks:
        dims = ModelDims(lookback, s.horizon, s.n_features, 0, 0, 1)
        target = count_parameters(family_model("transformer", dims, s.width, s.patch_len))
        for family in FAMILIES:
            hidden = matched_rnn_hidden(family, dims, target) if family in ("lstm", "gru") \
                else None
            model = family_model(family, dims, s.width, s.patch_len, hidden)
            progress(f"[study] speed {family} lookback {lookback}")
            spec = {"family": family, "lookback": lookback, "horizon": s.horizon,
                    "n_features": s.n_features, "width": s.width, "patch_len": s.patch_len,
                    "hidden": hidden, "train_batch": s.train_batch,
                    "infer_batch": s.infer_batch, "repeats": s.repeats}
            rows.append({"family": family, "lookback": lookback,
                         "parameters": count_parameters(model), **probe_in_subprocess(spec)})
    speed = pd.DataFrame(rows)
    exponents = {
        family: {metric: growth_exponent(list(g["lookback"]), list(g[metric]))
                 for metric in ("train_ms_per_sample", "infer_ms_batch1",
                                f"infer_ms_batch{s.infer_batch}", "train_peak_mb")}
        for family, g in speed.groupby("family")}
    dims = ModelDims(s.thread_lookback, s.horizon, s.n_features, 0, 0, 1)
    target = count_parameters(family_model("transformer", dims, s.width, s.patch_len))
    for family in FAMILIES:
        hidden = matched_rnn_hidden(family, dims, target) if family in ("lstm", "gru") else None
        model = family_model(family, dims, s.width, s.patch_len, hidden)
        exponents[family]["thread_speedup_batch1"] = thread_speedup(model, dims, s.repeats)
    return speed, exponents


# ---- 2. long-range dependency ---------------------------------------------------------------
def _dependency_model(family: str, distance: int, s: DependencySettings):
    dims = ModelDims(dependency_length(distance), 1, 2, 0, 0, 1)
    target = count_parameters(family_model("transformer", dims, s.width, s.patch_len))
    hidden = matched_rnn_hidden(family, dims, target) if family in ("lstm", "gru") else None
    # no instance normalisation: the target is one raw input value, not a level to restore
    return family_model(family, dims, s.width, s.patch_len, hidden, revin=False)


def train_dependency(family: str, distance: int, s: DependencySettings, seed: int) -> float:
    """Train on fresh batches, return test MSE / target variance (1.0 = learned nothing)."""
    torch.manual_seed(seed)
    model = _dependency_model(family, distance, s)
    module = ForecastModule(model, [], s.learning_rate, 0.0, 1)
    trainer = pl.Trainer(max_steps=s.steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu", gradient_clip_val=1.0)
    loader = DataLoader(DependencyStream(distance, s.batch_size, seed), batch_size=None)
    trainer.fit(module, train_dataloaders=loader)
    test = make_dependency_batch(s.n_test, distance, torch.Generator().manual_seed(seed + 999))
    model.eval()
    with torch.inference_mode():
        pred = model(test)[:, 0, 0]
    target = test["target"][:, 0]
    return float(((pred - target) ** 2).mean() / target.var())


def run_dependency(s: DependencySettings, seed: int, progress
                   ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    rows = []
    for family in s.families:
        for distance in s.distances:
            progress(f"[study] dependency {family} d={distance}")
            start = time.perf_counter()
            nmse = train_dependency(family, distance, s, seed)
            rows.append({"family": family, "distance": distance, "nmse": nmse,
                         "seconds": time.perf_counter() - start})
    profiles = {}
    for family in s.families:
        runs = []
        for k in range(s.gradient_seeds):
            torch.manual_seed(seed + k)
            model = _dependency_model(family, s.gradient_length - 16, s)
            batch = make_dependency_batch(16, s.gradient_length - 16,
                                          torch.Generator().manual_seed(k))
            runs.append(input_gradient_by_distance(model, batch))
        profiles[family] = np.stack(runs).mean(axis=0)  # index 0 (no input) stays NaN
    return pd.DataFrame(rows), profiles


# ---- 3. real data ---------------------------------------------------------------------------
def yardstick_mae(s: RealSettings) -> float:
    """seasonal_naive (season 336) on the same test windows: the bar every family must clear."""
    return Forecaster("seasonal_naive", load_config(_config_path(s.config), [
        "trainer.enable_progress_bar=false", *s.overrides, "data.lookback=336",
        "data.season=336"])).fit().metrics["mae"]


def run_real(s: RealSettings, progress) -> tuple[pd.DataFrame, float]:
    rows = []
    path = _config_path(s.config)
    base = ["trainer.enable_progress_bar=false", *s.overrides]
    yardstick = yardstick_mae(s)
    for lookback in s.lookbacks:
        for name in s.models:
            progress(f"[study] vic_elec {name} lookback {lookback}")
            config = load_config(path, [*base, f"data.lookback={lookback}", f"model.name={name}"])
            start = time.perf_counter()
            model = Forecaster(config=config).fit()
            rows.append({"family": name, "lookback": lookback, "mae": model.metrics["mae"],
                         "mase": model.metrics["mase"],
                         "seconds": time.perf_counter() - start})
    return pd.DataFrame(rows), yardstick


# ---- 4. attention maps ---------------------------------------------------------------------
def run_attention(s: AttentionSettings, progress) -> tuple[np.ndarray, dict[int, float]]:
    progress("[study] attention maps on vic_elec")
    config = load_config(_config_path(s.config), [
        "trainer.enable_progress_bar=false", "model.name=transformer", "data.lookback=336",
        f"model.transformer.patch_len={s.patch_len}", *s.overrides])
    model = Forecaster(config=config).fit()
    dataset = model._windows("test")
    batch = next(iter(DataLoader(dataset, batch_size=s.windows)))
    attention = mean_attention(model.network, batch)
    return attention, lag_profile(attention, s.patch_len)


# ---- report ---------------------------------------------------------------------------------
@dataclass
class StudyResult:
    speed: pd.DataFrame
    exponents: dict
    dependency: pd.DataFrame
    gradients: dict[str, np.ndarray]
    real: pd.DataFrame
    yardstick: float
    attention: np.ndarray
    lags: dict[int, float]
    seconds: float = 0.0
    lags_patch: int = 1
    speed_infer_batch: int = 64
    files: list[Path] = field(default_factory=list)


def doubling_distance(errors: pd.DataFrame, family: str) -> str:
    """The first d whose error exceeds twice the error at the shortest distance."""
    group = errors[errors["family"] == family].sort_values("distance")
    first = group["nmse"].iloc[0]
    above = group[group["nmse"] > 2 * first]
    found = str(int(above["distance"].iloc[0])) if len(above) else f"> {group['distance'].max()}"
    note = " (never learned the shortest distance)" if first > 0.5 else ""
    return f"{found}{note}"


def ratio(speed: pd.DataFrame, metric: str, a: str, b: str, lookback: int) -> float:
    rows = speed[speed["lookback"] == lookback].set_index("family")[metric]
    return float(rows[a] / rows[b]) if a in rows and b in rows else float("nan")


def claims_table(r: StudyResult) -> list[tuple[str, str, str, str]]:
    """(aspect, RNN claim, attention claim, measured verdict) per row of the classic table."""
    e, speed = r.exponents, r.speed
    small, large = min(speed["lookback"]), max(speed["lookback"])
    top = sorted(r.lags.items(), key=lambda kv: -kv[1])[:5]
    top_hours = ", ".join(f"{lag / 2:g} h" for lag, _ in top)
    day_rank = _rank_near(r.lags, 48)
    week_rank = _rank_near(r.lags, 330)
    real = r.real.pivot_table(index="lookback", columns="family", values="mae")

    batch = r.speed_infer_batch

    def train(family: str, lookback: int) -> float:
        return ratio(speed, "train_ms_per_sample", family, "lstm", lookback)

    best_family = real.min().idxmin() if len(real) else "n/a"
    return [
        ("processing", "sequential", "parallel",
         f"batch-1 latency grows as L^{e['lstm']['infer_ms_batch1']:.2f} (LSTM), "
         f"L^{e['gru']['infer_ms_batch1']:.2f} (GRU) vs "
         f"L^{e['transformer']['infer_ms_batch1']:.2f} (full attention), "
         f"L^{e['transformer_patched']['infer_ms_batch1']:.2f} (patched)"),
        ("long-range dependencies", "hard (vanishing gradient)", "no such problem",
         "error doubles from d=8 at d = " + ", ".join(
             f"{f}: {doubling_distance(r.dependency, f)}" for f in r.dependency["family"].unique())
         + f"; input gradient at d={_far(r.gradients)} vs d=8 at initialisation: " + ", ".join(
             f"{f} {_grad_ratio(p, _far(r.gradients)):.1e}" for f, p in r.gradients.items())),
        ("parallelism over time", "impossible", "possible",
         "all-thread speedup of one batch-1 forward: " + ", ".join(
             f"{f} {e[f]['thread_speedup_batch1']:.2f}x" for f in FAMILIES)),
        ("how it uses the past", "previous state predicts the next", "weighs every input",
         f"most recent token attends most to lags {top_hours}; 'same time yesterday' ranks "
         f"#{day_rank}, 'same time last week' #{week_rank} of {len(r.lags)} tokens"),
        ("efficiency on long sequences", "slow", "efficient, fast",
         f"training time transformer/LSTM: {train('transformer', small):.2f}x at L={small}, "
         f"{train('transformer', large):.2f}x at L={large}; patched/LSTM "
         f"{train('transformer_patched', large):.2f}x at L={large}; peak memory full "
         f"attention/LSTM at L={large}: "
         f"{ratio(speed, 'train_peak_mb', 'transformer', 'lstm', large):.1f}x in training; "
         f"inference at batch {batch}, full attention/LSTM at L={large}: "
         f"{ratio(speed, f'infer_ms_batch{batch}', 'transformer', 'lstm', large):.0f}x the time, "
         f"{ratio(speed, f'infer_peak_mb_batch{batch}', 'transformer', 'lstm', large):.0f}x the "
         f"memory; best family on vic_elec: {best_family}"),
    ]


def _rank_near(lags: dict[int, float], lag: int) -> int:
    ordered = sorted(lags, key=lambda k: -lags[k])
    nearest = min(lags, key=lambda k: abs(k - lag))
    return ordered.index(nearest) + 1


def _far(profiles: dict[str, np.ndarray]) -> int:
    return min(512, min(len(p) for p in profiles.values()) - 1)


def _grad_ratio(profile: np.ndarray, d: int) -> float:
    return float(profile[d] / profile[8]) if profile[8] > 0 else float("nan")


def _md(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def write_report(r: StudyResult, out: Path, title_note: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    figures = {
        "speed": study_plots.speed_curves(r.speed, out / "study_speed.png",
                                          r.speed_infer_batch),
        "dependency": study_plots.dependency_errors(r.dependency, out / "study_dependency.png"),
        "gradients": study_plots.gradient_norms(r.gradients, out / "study_gradients.png"),
        "real": study_plots.real_accuracy(r.real, r.yardstick, out / "study_real.png"),
        "attention": study_plots.attention_map(r.attention, r.lags_patch, r.lags,
                                               out / "study_attention.png"),
    }
    r.speed.to_csv(out / "study_speed.csv", index=False)
    r.dependency.to_csv(out / "study_dependency.csv", index=False)
    r.real.to_csv(out / "study_real.csv", index=False)
    pd.DataFrame({f: p for f, p in r.gradients.items()}).rename_axis("distance").to_csv(
        out / "study_gradients.csv")
    (out / "study_exponents.json").write_text(json.dumps(r.exponents, indent=2))
    np.savetxt(out / "study_attention.csv", r.attention, delimiter=",", fmt="%.6g")
    (out / "study_summary.json").write_text(json.dumps(
        {"yardstick_mae": r.yardstick, "minutes": r.seconds / 60,
         "top_lags_hours": {str(k / 2): v for k, v in sorted(r.lags.items(),
                                                             key=lambda kv: -kv[1])[:10]}},
        indent=2))
    exponents = pd.DataFrame(r.exponents).T.reset_index(names="family")
    claims = claims_table(r)
    lines = [
        "# RNN vs attention: measured", "",
        f"{title_note} Time for the parts run: {r.seconds / 60:.1f} min on this machine "
        f"({torch.get_num_threads()} CPU threads).", "",
        "| aspect | RNN (LSTM/GRU) | Attention (Transformer) | measured here |",
        "|---|---|---|---|",
        *[f"| {a} | {rnn} | {att} | {verdict} |" for a, rnn, att, verdict in claims], "",
        "## 1. Speed and memory against lookback", "",
        "Parameter counts matched within 10% per lookback (RNN hidden size searched to match "
        "the Transformer). Times in ms; memory is the peak RSS increase of one step, in MB.", "",
        _md(r.speed), "", "Growth exponents (slope of log cost on log lookback; 1 = linear, "
        "2 = quadratic; thread speedup = 1-thread / all-thread time of one batch-1 forward):",
        "", _md(exponents), "", f"![speed]({figures['speed'].name})", "",
        "## 2. Long-range dependency", "",
        "Each input step carries a random value; one step, exactly d steps before the forecast, "
        "is marked, and its value is the target. Error is test MSE over the target's variance "
        "(1 = nothing learned).", "", _md(r.dependency), "",
        f"![dependency]({figures['dependency'].name})", "",
        "Gradient of the forecast with respect to inputs d steps back, at initialisation:", "",
        f"![gradients]({figures['gradients'].name})", "",
        "## 3. vic_elec accuracy against lookback", "",
        f"seasonal_naive (season 336) test MAE: {r.yardstick:.1f}", "", _md(r.real), "",
        f"![real]({figures['real'].name})", "",
        "## 4. Attention on vic_elec", "",
        "Top lags (hours) of the most recent token: " + ", ".join(
            f"{lag / 2:g} h ({w:.3f})" for lag, w in sorted(r.lags.items(),
                                                            key=lambda kv: -kv[1])[:8]), "",
        f"![attention]({figures['attention'].name})", "",
    ]
    report = out / "study.md"
    report.write_text("\n".join(lines))
    r.files = [report, *figures.values(), *out.glob("study_*.csv"),
               out / "study_exponents.json", out / "study_summary.json"]
    return report


PARTS = ("speed", "dependency", "real", "attention")


def load_saved_part(part: str, folder: Path, settings: StudySettings):
    """A part's results as an earlier run saved them in `folder` (for --parts)."""
    try:
        if part == "speed":
            return (pd.read_csv(folder / "study_speed.csv"),
                    json.loads((folder / "study_exponents.json").read_text()))
        if part == "dependency":
            gradients = pd.read_csv(folder / "study_gradients.csv", index_col="distance")
            return (pd.read_csv(folder / "study_dependency.csv"),
                    {c: gradients[c].to_numpy() for c in gradients.columns})
        if part == "real":
            summary = folder / "study_summary.json"
            yardstick = (json.loads(summary.read_text())["yardstick_mae"] if summary.is_file()
                         else yardstick_mae(settings.real))
            return pd.read_csv(folder / "study_real.csv"), yardstick
        attention = np.loadtxt(folder / "study_attention.csv", delimiter=",")
        return attention, lag_profile(attention, settings.attention.patch_len)
    except (OSError, KeyError, ValueError) as err:
        raise ConfigError(f"cannot reuse the '{part}' results in {folder}: {err}; "
                          f"run that part again") from None


def run_study(settings: StudySettings, progress=print, parts: tuple[str, ...] = PARTS,
              saved: Path | None = None) -> StudyResult:
    """Run the chosen parts; the others are read back from `saved` (a previous output)."""
    start = time.perf_counter()
    pl.seed_everything(settings.seed, verbose=False)
    runners = {
        "speed": lambda: run_speed(settings.speed, progress),
        "dependency": lambda: run_dependency(settings.dependency, settings.seed, progress),
        "real": lambda: run_real(settings.real, progress),
        "attention": lambda: run_attention(settings.attention, progress),
    }
    # read the reused parts first, so a missing file fails before the expensive work
    results = {part: load_saved_part(part, saved or Path(settings.output_dir), settings)
               for part in PARTS if part not in parts}
    for part in parts:
        results[part] = runners[part]()
    speed, exponents = results["speed"]
    dependency, gradients = results["dependency"]
    real, yardstick = results["real"]
    attention, lags = results["attention"]
    result = StudyResult(speed, exponents, dependency, gradients, real, yardstick, attention,
                         lags, seconds=time.perf_counter() - start)
    result.lags_patch = settings.attention.patch_len
    result.speed_infer_batch = settings.speed.infer_batch
    return result


def log_study(result: StudyResult, settings: StudySettings) -> str:
    import mlflow

    from .bundle import flatten
    from .tracking import connect, ensure_experiment

    client = connect()
    experiment_id = ensure_experiment(client, settings.experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name="study") as run:
        mlflow.log_params(flatten(settings.model_dump()))
        for family, values in result.exponents.items():
            mlflow.log_metrics({f"{family}_{k}": float(v) for k, v in values.items()
                                if np.isfinite(v)})
        for path in result.files:
            mlflow.log_artifact(str(path), artifact_path="study")
    return run.info.run_id

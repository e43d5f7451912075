"""`Ensemble`: several trained predictors of one task served as one model.

The members share the task (window, horizon, frequency, features, scaler, quantiles), so one
check and one batch serve them all; their served (calibrated) quantiles are combined level by
level, in scaled units:

- `median`: the median across members of each quantile. One member gone astray cannot pull
  it far; with two members it is their mean.
- `weighted`: a weighted mean of the members' quantiles (quantile averaging, "Vincentization").
  The weights lie on the simplex and are chosen on the validation windows, by a grid search
  in steps of 1/20, to minimise the mean pinball loss over the served quantiles (the MAE for
  a point model): the same windows conformal calibration uses, never the test part. A
  baseline (seasonal naive, naive) can be weighed too and joins when it gets a weight: it
  errs unlike the networks, so a little of it can correct their shared bias.

Both keep every forecast's quantiles in order (the median and a non-negative weighted mean
of ordered vectors are ordered). Explanations come from one named member: the neural one with
the lowest validation loss.

On disk an ensemble is a directory holding `ensemble.json` and one ordinary model directory
per member under `members/`: safetensors and JSON throughout, nothing pickled.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from . import __version__
from .artifacts import CONFIG, ENSEMBLE
from .errors import ArtifactError, ConfigError
from .explain import Explanation
from .inference import CheckedSeries
from .models import get_family
from .predictor import Predictor, ServedModel

if TYPE_CHECKING:  # the service loads ensembles without Lightning, which the data module needs
    from .datamodule import PreparedData

Combine = Literal["median", "weighted"]
COMBINES: tuple[Combine, ...] = ("median", "weighted")
MEMBERS = "members"
ENSEMBLE_FORMAT = 1
WEIGHT_STEPS = 20  # the grid's resolution: weights are multiples of 1/20


@dataclass(frozen=True)
class Summary:
    """One `method` for what the members do alike (calibration, normalisation): theirs when
    they agree, each member's otherwise."""

    method: str
    calibrated: bool = True

    @classmethod
    def of(cls, members: Sequence[Predictor], attribute: str) -> Summary:
        methods = [getattr(m, attribute).method for m in members]
        method = methods[0] if len(set(methods)) == 1 else ", ".join(
            f"{m.name} {x}" for m, x in zip(members, methods, strict=True))
        calibrated = all(getattr(getattr(m, attribute), "calibrated", True) for m in members)
        return cls(method, calibrated)


def incompatibilities(members: Sequence[Predictor]) -> list[str]:
    """Why these predictors cannot share one check and one batch (empty when they can)."""
    first, problems = members[0], []
    for member in members[1:]:
        for what, a, b in (("lookback", first.lookback, member.lookback),
                           ("horizon", first.horizon, member.horizon),
                           ("season", first.dims.season, member.dims.season),
                           ("quantiles", first.quantiles, member.quantiles),
                           ("features", first.spec.to_json(), member.spec.to_json())):
            if a != b:
                problems.append(f"{member.name} has {what} {b}, {first.name} {a}")
        if member.scaler is not first.scaler and member.scaler.to_json() != first.scaler.to_json():
            problems.append(f"{member.name} was scaled with other statistics than {first.name}")
    embedded = {m.series_ids for m in members if m.embedding_dim}
    if len(embedded) > 1:
        problems.append("the members' series embeddings know different series")
    return problems


@dataclass(frozen=True)
class Ensemble(ServedModel):
    members: tuple[Predictor, ...]
    method: Combine
    weights: tuple[float, ...]  # one per member; equal (and unused) for the median
    explainer: str  # the member explanations come from
    metrics: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [m.name for m in self.members]
        if len(self.members) < 2 or len(set(names)) != len(names):
            raise ConfigError(f"an ensemble needs two or more distinct members, got {names}")
        if self.method not in COMBINES:
            raise ConfigError(f"ensemble method {self.method!r} is not one of {list(COMBINES)}")
        if len(self.weights) != len(self.members) or min(self.weights) < 0 \
                or abs(sum(self.weights) - 1) > 1e-6:
            raise ConfigError(f"ensemble weights {list(self.weights)} must be one non-negative "
                              f"weight per member ({names}) summing to 1")
        if self.explainer not in names:
            raise ConfigError(f"explainer {self.explainer!r} is not a member ({names})")
        problems = incompatibilities(self.members)
        if problems:
            raise ConfigError("the members cannot form one ensemble: " + "; ".join(problems))

    # ---- what it is: the members' shared task -------------------------------------------
    @property
    def name(self) -> str:
        return f"ensemble_{self.method}"

    @property
    def member_names(self) -> list[str]:
        return [m.name for m in self.members]

    @property
    def spec(self):
        return self.members[0].spec

    @property
    def scaler(self):
        return self.members[0].scaler

    @property
    def dims(self):
        return self.members[0].dims

    @property
    def quantiles(self) -> tuple[float, ...]:
        return self.members[0].quantiles

    @property
    def series_ids(self) -> tuple[str, ...]:
        return next((m.series_ids for m in self.members if m.embedding_dim), ())

    @property
    def training_config(self) -> Mapping[str, Any]:
        return self.members[0].training_config

    @property
    def calibration(self) -> Summary:
        return Summary.of(self.members, "calibration")

    @property
    def normalization(self) -> Summary:
        return Summary.of(self.members, "normalization")

    def member(self, name: str) -> Predictor:
        return self.members[self.member_names.index(name)]

    def with_metrics(self, metrics: Mapping[str, float]) -> Ensemble:
        return replace(self, metrics=dict(metrics))

    def describe(self) -> dict[str, Any]:
        """What ensemble.json holds besides the members' own directories."""
        return {"method": self.method, "members": self.member_names,
                "weights": dict(zip(self.member_names, self.weights, strict=True)),
                "explainer": self.explainer}

    # ---- forecasting --------------------------------------------------------------------
    def outputs(self, batch) -> torch.Tensor:
        """Served quantiles (B, H, Q) in scaled units: each member's, combined per level."""
        stacked = torch.stack([m.outputs(batch) for m in self.members])  # (M, B, H, Q)
        return combine(stacked, self.method, self.weights)

    def explain(self, checked: Sequence[CheckedSeries], top_k: int = 10) -> list[Explanation]:
        """The explainer member's explanation: which inputs mattered to its forecast."""
        return self.member(self.explainer).explain(checked, top_k)

    # ---- persistence --------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        for member in self.members:
            member.save(directory / MEMBERS / member.name)
        document = {"format_version": ENSEMBLE_FORMAT, **self.describe(),
                    "metrics": dict(self.metrics), "library_version": __version__}
        (directory / ENSEMBLE).write_text(json.dumps(document, indent=2, sort_keys=True))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Ensemble:
        """Rebuild from `ensemble.json` and the members' model directories."""
        directory = Path(directory)
        try:
            document = json.loads((directory / ENSEMBLE).read_text())
            if document.get("format_version") != ENSEMBLE_FORMAT:
                raise ArtifactError(f"{directory / ENSEMBLE}: format_version "
                                    f"{document.get('format_version')} is not {ENSEMBLE_FORMAT}")
            names = [str(n) for n in document["members"]]
            members = tuple(Predictor.load(directory / MEMBERS / n) for n in names)
            weights = tuple(float(document["weights"][n]) for n in names)
            return cls(members, document["method"], weights, str(document["explainer"]),
                       document.get("metrics", {}))
        except (KeyError, TypeError, ValueError) as err:  # ConfigError is a ValueError
            raise ArtifactError(f"{directory / ENSEMBLE} does not describe an ensemble of its "
                                f"members: {err}") from None


def combine(stacked: torch.Tensor, method: Combine, weights: Sequence[float]) -> torch.Tensor:
    """(M, ...) members' quantiles to one (...): their median, or their weighted mean."""
    if method == "median":
        return stacked.quantile(0.5, dim=0)
    w = torch.tensor(weights, dtype=stacked.dtype).reshape(-1, *([1] * (stacked.dim() - 1)))
    return (w * stacked).sum(dim=0)


def simplex_grid(n: int, steps: int = WEIGHT_STEPS) -> np.ndarray:
    """Every weight vector of `n` non-negative multiples of 1/steps summing to 1."""
    rows = [np.diff([0, *cuts, steps]) for cuts in
            itertools.combinations_with_replacement(range(steps + 1), n - 1)]
    return np.array(rows, dtype=np.float64) / steps


def validation_loss(forecast: np.ndarray, actual: np.ndarray, quantiles: Sequence[float]
                    ) -> np.ndarray:
    """Mean pinball loss over the levels of forecasts (..., N, H, Q) against actual (N, H);
    the MAE when there are no levels (a point model's one column)."""
    levels = np.asarray(quantiles if quantiles else [0.5], dtype=np.float64)
    residual = actual[..., None] - forecast
    loss = np.maximum(levels * residual, (levels - 1) * residual)
    return loss.mean(axis=(-3, -2, -1)) * (1 if quantiles else 2)


def choose_weights(forecasts: np.ndarray, actual: np.ndarray, quantiles: Sequence[float],
                   steps: int = WEIGHT_STEPS) -> tuple[float, ...]:
    """The grid's weights whose combination of forecasts (M, N, H, Q) scores best on actual
    (N, H); ties go to the first found (the grid starts at the last member alone)."""
    grid = simplex_grid(forecasts.shape[0], steps)
    losses = [validation_loss(np.tensordot(w, forecasts, axes=1), actual, quantiles)
              for w in grid]
    return tuple(float(w) for w in grid[int(np.argmin(losses))])


def fit_ensemble(members: Sequence[Predictor], method: Combine,
                 validation: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 baseline: Predictor | None = None) -> Ensemble:
    """An ensemble of `members`, given each member's validation (forecast (N, H, Q), actual
    (N, H)) by name: the weights (for `weighted`) and the explainer are chosen on them.

    A `weighted` ensemble also weighs `baseline` (a yardstick such as seasonal naive) on the
    same grid; it joins the members only when it gets a weight, and never explains."""
    members = tuple(members)
    weighted = method == "weighted"
    candidates = members + ((baseline,) if weighted and baseline is not None else ())
    quantiles = members[0].quantiles
    forecasts = np.stack([validation[m.name][0] for m in candidates])
    actual = validation[members[0].name][1]
    losses = validation_loss(forecasts[:len(members)], actual, quantiles)
    explainer = members[int(np.argmin(losses))].name
    if not weighted:
        return Ensemble(members, method, (1 / len(members),) * len(members), explainer)
    weights = choose_weights(forecasts, actual, quantiles)
    if len(candidates) > len(members) and weights[-1] == 0:
        candidates, weights = members, weights[:-1]
    return Ensemble(candidates, method, weights, explainer)


def fit_ensembles(predictors: Sequence[Predictor], methods: Sequence[Combine],
                  prepared: PreparedData,
                  validation: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None
                  ) -> list[Ensemble]:
    """One ensemble of the neural `predictors` per method, chosen on the validation windows
    of `prepared` and scored on its test windows (the metrics every model of a comparison
    gets). Of the baselines among `predictors`, the one with the lowest validation loss is a
    candidate of the `weighted` ensemble: a yardstick that errs unlike the networks can
    lower the error of their mean, and the grid still holds every mix without it.

    `validation` holds, by name, forecasts of those windows to choose on instead of the
    predictor's own: a member refitted on the validation part (`trainer.refit`) passes its
    first fit's, since its own are in-sample and would favour whichever member overfits."""
    from .evaluation import forecast_split, scores_on_test

    validation = dict(validation or {})
    for predictor in predictors:
        if predictor.name not in validation:
            windows = forecast_split(predictor, prepared, "val")
            validation[predictor.name] = (windows.forecast, windows.actual)
    members = [p for p in predictors if get_family(p.name).neural]
    baseline = min((p for p in predictors if not get_family(p.name).neural), default=None,
                   key=lambda b: float(validation_loss(*validation[b.name], b.quantiles)))
    ensembles = [fit_ensemble(members, method, validation, baseline) for method in methods]
    return [e.with_metrics(scores_on_test(e, prepared)) for e in ensembles]


def load_model(directory: str | Path) -> Predictor | Ensemble:
    """A model directory of either kind: an ensemble when it holds `ensemble.json`."""
    directory = Path(directory)
    if (directory / ENSEMBLE).is_file():
        return Ensemble.load(directory)
    if not (directory / CONFIG).is_file() and (directory / MEMBERS).is_dir():
        raise ArtifactError(f"{directory} holds members/ but no {ENSEMBLE}")
    return Predictor.load(directory)

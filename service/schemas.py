"""Request and response models (they are the OpenAPI document at /docs), and how each
response is built from the library's results."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_validator,
)

from forecast import Ensemble, Predictor
from forecast.explain import Explanation
from forecast.frames import quantile_label
from forecast.inference import SeriesForecast

if TYPE_CHECKING:
    from .model_source import LoadedModel


Horizon = Annotated[StrictInt, Field(ge=1, description="steps to forecast; default: the trained "
                                    "horizon, at most it")]
TopK = Annotated[StrictInt, Field(ge=1, le=500, description="input timestamps to list with explain")]


MAX_NAMES = 64  # covariates or statics in one series: a bound checked before their values


class StrictBody(BaseModel):
    """A request object: a field it does not know is an error naming it, never ignored (a
    misspelt `horizn` would otherwise answer the default horizon with 200). Checked before
    any value, so a body of a million unknown keys costs one error, not a million."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_fields_only(cls, data: object) -> object:
        if isinstance(data, dict):
            unknown = [key for key in data if key not in cls.model_fields]
            if unknown:
                shown = ", ".join(repr(str(k)[:64]) for k in unknown[:5])
                more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
                raise ValueError(f"unknown field {shown}{more}; expected only "
                                 f"{', '.join(cls.model_fields)}")
        return data


def _at_most_names(value: object) -> object:
    if isinstance(value, dict) and len(value) > MAX_NAMES:
        raise ValueError(f"{len(value)} names; expected at most {MAX_NAMES}")
    return value


# lists stop at their first bad item: `[true, true, ...]` is one error, not one per item
Values = Annotated[list[StrictFloat], Field(min_length=1, fail_fast=True)]
Timestamps = Annotated[list[datetime], Field(min_length=1, fail_fast=True)]


class SeriesIn(StrictBody):
    """Numbers are strict: `true` or `"12"` is not a number."""

    unique_id: str = Field(min_length=1, max_length=256, examples=["VIC"])
    ds: Timestamps = Field(description="timestamps at the model's frequency, oldest first; at "
                           "least the model's lookback (GET /model)")
    y: Values = Field(description="observed target, one value per ds")
    covariates: Annotated[dict[str, Annotated[list[StrictFloat], Field(fail_fast=True)]],
                          BeforeValidator(_at_most_names)] = Field(
        default_factory=dict,
        description="the model's covariates (GET /model), no others: past covariates one value "
                    "per ds; future covariates horizon more values (at most one per ds plus the "
                    f"model's horizon); at most {MAX_NAMES}",
    )
    static: Annotated[dict[str, StrictFloat], BeforeValidator(_at_most_names)] = Field(
        default_factory=dict, description="the model's static covariates, no others")


class ActualsIn(StrictBody):
    """What happened: one value per timestamp; numbers are strict, as in /predict."""

    unique_id: str = Field(min_length=1, max_length=256, examples=["VIC"])
    ds: Timestamps = Field(description="timestamps of the actual values")
    y: Values = Field(description="the actual values, one per ds")


class PredictIn(StrictBody):
    """The body of POST /predict."""

    series: Annotated[list[SeriesIn], Field(fail_fast=True)]
    horizon: Horizon | None = None
    quantiles: Annotated[list[StrictFloat], Field(fail_fast=True)] | None = None
    explain: StrictBool = False
    top_k: TopK = 10


class NoBody(StrictBody):
    """POST /reload takes nothing: an empty body, or `{}`."""


class ActualsBody(StrictBody):
    """The body of POST /actuals."""

    series: Annotated[list[ActualsIn], Field(fail_fast=True)]


class ActualsResponse(BaseModel):
    received: int = Field(description="values in the body")
    matched: int = Field(description="(unique_id, ds) pairs some logged forecast targets")
    unmatched: int = Field(description="stored too, but no logged forecast targets them (yet)")


class MonitoringResponse(BaseModel):
    """Live scores per model version over the window of recent origins."""

    log: dict = Field(description="available, error, dropped (records the log could not "
                      "store), url")
    window_days: float = Field(description="days of forecast origins scored, back from the "
                               "latest")
    rule: str = Field(description="the status rule")
    versions: list[dict] = Field(description="per version: status (ok, degraded, "
                                 "insufficient data), reasons, test_mae, live (n, mae, mase, "
                                 "coverage_80, coverage_90, width_80, wql), by_step, by_series, "
                                 "drift, adaptive_offsets, adaptive_trackers (the "
                                 "trackers' rates, and per level their offsets and weights)")


class ModelRef(BaseModel):
    name: str
    version: str
    alias: str
    architecture: str
    calibrated: bool = Field(description="whether the quantiles were calibrated out of sample")

    @classmethod
    def of(cls, loaded: LoadedModel) -> ModelRef:
        return cls(name=loaded.name, version=loaded.version, alias=loaded.alias,
                   architecture=loaded.predictor.name,
                   calibrated=loaded.predictor.calibration.calibrated)


class InputImportance(BaseModel):
    method: str = Field(description="attention (Transformer) or saliency (input gradients)")
    grain: str = Field("step", description="patch: each entry is an input range from ds to "
                       "end, the patch a patched Transformer attends to as one token; step: "
                       "single input steps")
    ds: list[datetime] = Field(description="first timestamp of each range (or the step)")
    end: list[datetime] | None = Field(None, description="last timestamp of each range "
                                       "(grain patch only)")
    weight: list[float] = Field(description="share of the attention or saliency, largest first")

    @classmethod
    def of(cls, explanation: Explanation) -> InputImportance:
        end = [d.to_pydatetime() for d in explanation.end] if explanation.end else None
        return cls(method=explanation.method, grain=explanation.grain,
                   ds=[d.to_pydatetime() for d in explanation.ds], end=end,
                   weight=explanation.weight)


class ForecastOut(BaseModel):
    unique_id: str
    ds: list[datetime]
    mean: list[float] = Field(description="the point forecast: the median when the model "
                              "serves quantiles")
    quantiles: dict[str, list[float]] = Field(
        default_factory=dict, description="level (e.g. '0.9') -> values, calibrated when "
        "the model says so; all the model serves unless the request names some")
    explanation: InputImportance | None = None

    @classmethod
    def of(cls, forecast: SeriesForecast, steps: int, point: int,
           quantiles: dict[float, int], explanation: Explanation | None) -> ForecastOut:
        """`quantiles`: each quantile to return -> its column in `forecast.values`."""
        values = forecast.values[:steps]
        return cls(unique_id=forecast.unique_id, ds=list(forecast.ds[:steps].to_pydatetime()),
                   mean=values[:, point].tolist(),
                   quantiles={quantile_label(q): values[:, i].tolist()
                              for q, i in quantiles.items()},
                   explanation=InputImportance.of(explanation) if explanation else None)


class PredictResponse(BaseModel):
    model: ModelRef
    forecasts: list[ForecastOut]

    @classmethod
    def of(cls, loaded: LoadedModel, forecasts: list[SeriesForecast], steps: int,
           quantiles: list[float], explanations: list[Explanation] | None) -> PredictResponse:
        predictor = loaded.predictor
        columns = {q: predictor.quantiles.index(q) for q in quantiles}
        explanations = explanations or [None] * len(forecasts)
        return cls(model=ModelRef.of(loaded), forecasts=[
            ForecastOut.of(f, steps, predictor.point, columns, e)
            for f, e in zip(forecasts, explanations, strict=True)])


class MemberInfo(BaseModel):
    architecture: str
    weight: float = Field(description="its weight in the ensemble's mean (equal for a median)")
    metrics: dict[str, float] = Field(description="its own test metrics")
    explains: bool = Field(description="whether explanations come from this member")
    median_moved: bool = Field(description="whether its calibration moved its median")
    median_bias: float | None = Field(description="its median's bias share on the validation "
                                      "windows")
    copies: int = Field(description="how many networks its forecast is the mean of "
                        "(model.copies)")


class ModelInfo(BaseModel):
    name: str
    version: str
    alias: str
    architecture: str
    run_id: str | None
    source: str = Field(description="registry, or cache when the registry was unreachable")
    metrics: dict[str, float]
    lookback: int
    horizon: int
    freq: str
    quantiles: list[float]
    calibration: str = Field(description="conformal (coverage corrected on held-out windows), "
                             "empirical (baseline residual quantiles) or none")
    calibrated: bool = Field(description="whether the quantiles were calibrated out of sample")
    normalization: str = Field(description="revin (each lookback window standardised by its "
                               "own mean and spread) or series (per-series scaling only)")
    covariates: dict[str, list[str]]
    adaptive_offsets: dict[str, float] = Field(
        default_factory=dict, description="offsets in force per quantile level, in the "
        "series' training standard deviations, learnt from actuals (adaptive intervals); "
        "empty until actuals arrive or when FORECAST_ADAPTIVE=off")
    members: list[MemberInfo] = Field(
        default_factory=list, description="an ensemble's members (architecture "
        "ensemble_median or ensemble_weighted); empty for a single model")
    median_moved: bool | None = Field(
        None, description="whether calibration moved the median (model.calibrate_median as "
        "it resolved; with auto, when median_bias reached 0.5); null for an ensemble, whose "
        "members each say")
    median_bias: float | None = Field(
        None, description="the median's bias share on the validation windows, |mean error| / "
        "mean |error| (0: balanced, 1: every error one-sided); null when not measured")
    copies: int | None = Field(
        None, description="how many networks, trained side by side from their own random "
        "starts, the forecast is the mean of (model.copies); null for an ensemble, whose "
        "members each say")

    @classmethod
    def of(cls, loaded: LoadedModel, offsets: dict[str, float] | None = None) -> ModelInfo:
        predictor, spec = loaded.predictor, loaded.predictor.spec
        return cls(name=loaded.name, version=loaded.version, alias=loaded.alias,
                   architecture=predictor.name, run_id=loaded.run_id, source=loaded.source,
                   metrics=dict(predictor.metrics), lookback=predictor.lookback,
                   horizon=predictor.horizon, freq=spec.freq, quantiles=list(predictor.quantiles),
                   calibration=predictor.calibration.method,
                   calibrated=predictor.calibration.calibrated,
                   normalization=predictor.normalization.method,
                   covariates={"past": list(spec.past_covariates),
                               "future": list(spec.future_covariates),
                               "static": list(spec.static_covariates)},
                   adaptive_offsets=offsets or {}, members=members_of(predictor),
                   **network_facts(predictor))


def network_facts(model: Predictor | Ensemble) -> dict[str, Any]:
    """What calibration did to a single model's median, and how many network copies it
    averages (an ensemble's members each say)."""
    if isinstance(model, Ensemble):
        return {}
    return {"median_moved": model.calibration.median_moved,
            "median_bias": model.calibration.median_bias, "copies": model.copies}


def members_of(model: Predictor | Ensemble) -> list[MemberInfo]:
    if not isinstance(model, Ensemble):
        return []
    return [MemberInfo(architecture=m.name, weight=w, metrics=dict(m.metrics),
                       explains=m.name == model.explainer, **network_facts(m))
            for m, w in zip(model.members, model.weights, strict=True)]


class ReloadResponse(BaseModel):
    status: str = Field(description="loaded, unchanged or refused")
    version: str | None
    detail: str


class ErrorBody(BaseModel):
    """The body of every answer that is not 2xx, at most a few KB whatever the request."""

    error: str = Field(description="what was wrong, and what was expected")
    field: str | None = Field(description="where: a JSON path into the body (series[0].y), a "
                              "header (authorization, content-type), body, or null when no "
                              "one part of the request is at fault")

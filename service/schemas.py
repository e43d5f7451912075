"""Request and response models: they are the OpenAPI document at /docs."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class SeriesIn(BaseModel):
    unique_id: str = Field(min_length=1, max_length=256, examples=["VIC"])
    ds: list[datetime] = Field(description="timestamps at the model's frequency, oldest first")
    y: list[float] = Field(description="observed target, one value per ds")
    covariates: dict[str, list[float]] = Field(
        default_factory=dict,
        description="past covariates: one value per ds; future covariates: horizon more values",
    )
    static: dict[str, float] = Field(default_factory=dict)


class ModelRef(BaseModel):
    name: str
    version: str
    alias: str
    architecture: str


class InputImportance(BaseModel):
    method: str = Field(description="attention (Transformer) or saliency (input gradients)")
    ds: list[datetime]
    weight: list[float]


class ForecastOut(BaseModel):
    unique_id: str
    ds: list[datetime]
    mean: list[float]
    quantiles: dict[str, list[float]] = Field(default_factory=dict)
    explanation: InputImportance | None = None


class PredictResponse(BaseModel):
    model: ModelRef
    forecasts: list[ForecastOut]


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
    covariates: dict[str, list[str]]


class ReloadResponse(BaseModel):
    status: str = Field(description="loaded, unchanged or refused")
    version: str | None
    detail: str


class ErrorBody(BaseModel):
    error: str
    field: str | None = None

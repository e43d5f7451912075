"""The service's own title, description and version on the docs page (/ and /docs.json),
instead of BentoML's placeholder text and version "None" outside a built Bento."""

from __future__ import annotations

from typing import Any

import attrs

import forecast

from .schemas import ErrorBody

DESCRIPTION = """\
Forecasts from the model behind `models:/$FORECAST_MODEL_NAME@$FORECAST_MODEL_ALIAS`
(default `forecaster@champion`) in the MLflow registry.

* `POST /predict`: one or many series (timestamps, target, covariates) in, forecasts out:
  the point forecast (`mean`, the median), the quantiles the model serves (all by default,
  or those `quantiles` names; calibrated out of sample when `model.calibrated` is true), and
  with `explain` the input timestamps that mattered most.
* `GET /model`: what is served (version, metrics, lookback, horizon, frequency, covariates,
  quantiles and how they were calibrated).
* `POST /reload`: re-resolve the alias; the new version is smoke-tested before it is swapped in.
* `POST /actuals`: what happened (series of `unique_id`, `ds`, `y`), idempotent on
  (`unique_id`, `ds`): scores the logged forecasts and moves the adaptive intervals.
* `GET /monitoring`: live scores (MAE, MASE, coverage, width, WQL) by step and per series,
  status (ok, degraded, insufficient data) and input drift per model version.

Errors are JSON `{"error", "field"}`: 422 invalid input, 413 over the limits, 401 without the
API key (when `FORECAST_API_KEY` is set), 503 while no model is loaded.
"""


ERRORS = {
    "401": "missing or wrong API key (when FORECAST_API_KEY is set)",
    "413": "body, series, points or values over the limits",
    "415": "the body is not JSON",
    "422": "invalid input; `field` names where",
    "503": "no model loaded yet",
}
ROUTE_ERRORS = {"/predict": list(ERRORS), "/reload": ["401"],
                "/actuals": ["401", "413", "415", "422", "503"]}
ERRORS_BY_ROUTE = {("/actuals", "503"): "the forecast log is unavailable"}


class DocumentedSpec:
    """BentoML's OpenAPI document plus the error answers and `/reload`'s empty body."""

    def __init__(self, spec):
        self.spec = spec

    def __getattr__(self, name: str):
        return getattr(self.spec, name)

    def asdict(self) -> dict[str, Any]:
        document = self.spec.asdict()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorBody"] = ErrorBody.model_json_schema()
        error = {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
        for path, codes in ROUTE_ERRORS.items():
            operation = document["paths"][path]["post"]
            responses = operation.setdefault("responses", {})
            for code in codes:
                description = ERRORS_BY_ROUTE.get((path, code), ERRORS[code])
                responses[code] = {"description": description, **error}
            for bentoml_code in (400, "400"):  # schema errors are answered 422
                responses.pop(bentoml_code, None)
        document["paths"]["/reload"]["post"].pop("requestBody", None)
        return document


def describe(service) -> None:
    """Give `service` (a bentoml Service) this project's description and version."""
    base = type(service)

    class DescribedService(base):
        __slots__ = ()

        @property
        def doc(self) -> str:
            return DESCRIPTION

        @property
        def openapi_spec(self):
            spec = base.openapi_spec.fget(self)
            info = attrs.evolve(spec.info, title="forecast", version=forecast.__version__)
            return DocumentedSpec(attrs.evolve(spec, info=info))

    service.__class__ = DescribedService

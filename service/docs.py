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

Every answer that is not 2xx is JSON `{"error", "field"}` (`field` names the part of the
request at fault, or is null), a few KB at most: 400 malformed HTTP, 401 without the API key
(when `FORECAST_API_KEY` is set), 404 unknown route, 405 wrong method, 408 a body or headers
that arrive too slowly, 413 over the limits, 415 a body that is not JSON, 422 invalid input
(unknown fields included), 429 too many requests in progress, 503 no model loaded (or, for
`/actuals`, no forecast log), 504 no answer within 60 s.
"""


ERRORS = {
    "401": "missing or wrong API key (when FORECAST_API_KEY is set)",
    "408": "the body did not arrive in time (FORECAST_BODY_TIMEOUT, FORECAST_BODY_MIN_RATE)",
    "413": "body, series, points or values over the limits",
    "415": "the body is not JSON",
    "422": "invalid input, unknown fields included; `field` names where",
    "429": "FORECAST_MAX_CONCURRENCY requests in progress; retry after a short wait",
    "503": "no model loaded yet",
    "504": "no answer within the request timeout (60 s)",
}
BODY_ROUTE = ["401", "408", "413", "415", "422", "429", "504"]
ROUTE_ERRORS = {("/predict", "post"): [*BODY_ROUTE, "503"],
                ("/actuals", "post"): [*BODY_ROUTE, "503"],
                ("/reload", "post"): BODY_ROUTE,
                ("/model", "get"): ["429", "503", "504"],
                ("/monitoring", "get"): ["401", "429", "504"],
                ("/readyz", "get"): ["503"]}
ERRORS_BY_ROUTE = {("/actuals", "503"): "the forecast log is unavailable",
                   ("/reload", "422"): "a body that is not empty or `{}`",
                   ("/readyz", "503"): "not ready: no model loaded yet"}


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
        for (path, method), codes in ROUTE_ERRORS.items():
            operation = document["paths"][path][method]
            responses = operation.setdefault("responses", {})
            for code in codes:
                description = ERRORS_BY_ROUTE.get((path, code), ERRORS[code])
                responses[code] = {"description": description, **error}
            for bentoml_code in (400, "400"):  # schema errors are answered 422
                responses.pop(bentoml_code, None)
        for methods in document["paths"].values():  # BentoML's own 404 and 500 too
            for operation in methods.values():
                responses = operation.get("responses", {})
                for code in [c for c in responses if int(c) >= 400]:
                    responses[str(code)] = {**responses.pop(code), **error}
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

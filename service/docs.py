"""The service's own title, description and version on the docs page (/ and /docs.json),
instead of BentoML's placeholder text and version "None" outside a built Bento."""

from __future__ import annotations

import attrs

import forecast

DESCRIPTION = """\
Forecasts from the model behind `models:/$FORECAST_MODEL_NAME@$FORECAST_MODEL_ALIAS`
(default `forecaster@champion`) in the MLflow registry.

* `POST /predict`: one or many series (timestamps, target, covariates) in, forecasts out:
  the point forecast (`mean`), the quantiles the model serves, and with `explain` the input
  timestamps that mattered most.
* `GET /model`: what is served (version, metrics, lookback, horizon, frequency, covariates).
* `POST /reload`: re-resolve the alias; the new version is smoke-tested before it is swapped in.

Errors are JSON `{"error", "field"}`: 422 invalid input, 413 over the limits, 401 without the
API key (when `FORECAST_API_KEY` is set), 503 while no model is loaded.
"""


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
            return attrs.evolve(spec, info=info)

    service.__class__ = DescribedService

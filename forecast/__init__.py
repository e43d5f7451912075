"""forecast: LSTM, GRU and Transformer forecasters for tabular time series."""

__version__ = "0.1.0"

from .config import ForecastConfig, build_config, load_config  # noqa: E402
from .ensemble import Ensemble, load_model  # noqa: E402
from .errors import ConfigError, DataValidationError, ForecastError  # noqa: E402
from .predictor import Predictor  # noqa: E402


def __getattr__(name: str):
    """`Forecaster` (training, so Lightning) is imported on first use: the service, which only
    predicts, starts seconds faster without Lightning."""
    if name == "Forecaster":
        from .forecaster import Forecaster

        return Forecaster
    raise AttributeError(f"module 'forecast' has no attribute {name!r}")

__all__ = [
    "ConfigError",
    "DataValidationError",
    "Ensemble",
    "ForecastConfig",
    "ForecastError",
    "Forecaster",
    "Predictor",
    "__version__",
    "build_config",
    "load_model",
    "load_config",
]

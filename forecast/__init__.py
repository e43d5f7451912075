"""forecast: LSTM, GRU and Transformer forecasters for tabular time series."""

__version__ = "0.1.0"

from .config import ForecastConfig, build_config, load_config  # noqa: E402
from .errors import ConfigError, DataValidationError, ForecastError  # noqa: E402
from .forecaster import Forecaster  # noqa: E402
from .predictor import Predictor  # noqa: E402

__all__ = [
    "ConfigError",
    "DataValidationError",
    "ForecastConfig",
    "ForecastError",
    "Forecaster",
    "Predictor",
    "__version__",
    "build_config",
    "load_config",
]

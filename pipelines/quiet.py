"""Quiet by default: a command prints its progress bar and its result, not the tips, hardware
banners, deprecation notices and INFO lines of the libraries under it. `--verbose` (or
FORECAST_VERBOSE=1) leaves every library as it is.

Each is silenced at its source: the library's own logger or setting, or a warning filter that
names the message, so nothing of ours is hidden with it.
"""

from __future__ import annotations

import logging
import os
import re
import warnings

# loggers whose INFO lines are the libraries' business, not the user's
LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_utilities",
           "pytorch_lightning", "mlflow", "alembic", "optuna", "py.warnings.mlflow")
# warnings that name a library's own deprecation or an inference it gave up on; our own code
# cannot act on them
WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\) is deprecated.*",
    r".*Failed to infer model signature.*",
    r".*Model logged without a signature.*",
    r".*does not have many workers which may be a bottleneck.*",
    r".*The '(train|val|test)_dataloader' does not have many workers.*",
    r".*Starting from v1\.9\.0, `tensorboardX` has been removed.*",
    r".*pkg_resources is deprecated.*",
)
ENVIRONMENT = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # tqdm bars on every artifact download
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # MLflow sets its loggers' level from this on import
}


class _DropMessages(logging.Filter):
    """Drops a library logger's records whose text matches one of WARNINGS."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(re.match(pattern, text, re.DOTALL) for pattern in WARNINGS)


def verbose_requested(flag: bool) -> bool:
    return flag or os.environ.get("FORECAST_VERBOSE", "").lower() in ("1", "true", "yes")


def silence_libraries() -> None:
    """Set the libraries' own knobs; call before training, logging or serving starts."""
    for key, value in ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    for pattern in WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(mlflow|lightning|torch)")
    import lightning.pytorch  # noqa: F401 - its import sets its loggers to INFO: set them after

    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # MLflow logs, not warns, that it could not infer the pyfunc's signature from type hints
    logging.getLogger("mlflow.pyfunc").addFilter(_DropMessages())
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
    except ImportError:  # pragma: no cover - optuna is a dependency
        pass

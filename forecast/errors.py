"""Named exceptions: each validation failure is its own type so callers (CLI, HTTP) can map it."""

from __future__ import annotations


class ForecastError(Exception):
    """Base class for every error a user of the library can act on."""


class DataValidationError(ForecastError, ValueError):
    """Input data breaks the data contract.

    `field` says where, relative to one series (`y`, `ds`, `covariates.Temperature`), so the
    service can point at `series[i].<field>` without knowing the exception types.
    """

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


class MissingColumnError(DataValidationError):
    def __init__(self, column: str, available: list[str], group: str = "covariates"):
        self.column = column
        super().__init__(
            f"missing column '{column}': expected it in the data; found columns {sorted(available)}",
            f"{group}.{column}",
        )


class TimestampParseError(DataValidationError):
    def __init__(self, column: str, example: str):
        self.column = column
        super().__init__(
            f"column '{column}' has values that are not timestamps (e.g. {example!r}); "
            "expected ISO-8601 dates or datetimes", "ds"
        )


class DuplicateTimestampError(DataValidationError):
    def __init__(self, unique_id: str, ds: object, count: int):
        self.unique_id = unique_id
        super().__init__(
            f"series '{unique_id}' has {count} duplicate (unique_id, ds) rows, first at ds={ds}; "
            "expected one row per series and timestamp"
        )


class FrequencyError(DataValidationError):
    def __init__(self, unique_id: str, detail: str):
        self.unique_id = unique_id
        super().__init__(f"series '{unique_id}': {detail}", "ds")


class NonFiniteValueError(DataValidationError):
    def __init__(self, column: str, unique_id: str, count: int, first_ds: object):
        self.column = column
        self.unique_id = unique_id
        super().__init__(
            f"column '{column}' of series '{unique_id}' has {count} NaN/inf values "
            f"(first at ds={first_ds}); set data.fill to 'ffill' or 'interpolate', or clean the data",
            "y" if column == "y" else f"covariates.{column}",
        )


class SeriesTooShortError(DataValidationError):
    def __init__(self, unique_id: str, length: int, needed: int, what: str = "lookback + horizon"):
        self.unique_id = unique_id
        super().__init__(
            f"series '{unique_id}' has {length} points; expected at least {needed} ({what})", "y"
        )


class MissingFutureCovariateError(DataValidationError):
    def __init__(self, column: str, unique_id: str, have: int, needed: int):
        self.column = column
        self.unique_id = unique_id
        super().__init__(
            f"future covariate '{column}' of series '{unique_id}' has {have} values after the "
            f"last observed y; expected {needed} (one per forecast step)", f"covariates.{column}"
        )


class ConfigError(ForecastError, ValueError):
    """A configuration value or model name is not valid."""


class ArtifactError(ForecastError):
    """A saved model directory is missing files or is not compatible."""

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
    def __init__(self, column: str, available: list[str], group: str = "covariates",
                 fix: str | None = None):
        self.column, self.available = column, available
        field = group if group in ("unique_id", "ds", "y") else f"{group}.{column}"
        super().__init__(
            f"missing column '{column}': expected it in the data; found columns "
            f"{sorted(available)}" + (f"; {fix}" if fix else ""), field)


class TimestampParseError(DataValidationError):
    def __init__(self, column: str, example: str, hint: str = ""):
        self.column = column
        super().__init__(
            f"column '{column}' has values that are not timestamps (e.g. {example!r}); "
            "expected ISO-8601 dates or datetimes" + (f"; {hint}" if hint else ""), "ds"
        )


class SeriesError(DataValidationError):
    """A problem inside one series: carries its id and, where one column is at fault, that."""

    def __init__(self, unique_id: str, message: str, field: str | None,
                 column: str | None = None):
        self.unique_id, self.column = unique_id, column
        super().__init__(message, field)


class DuplicateTimestampError(SeriesError):
    def __init__(self, unique_id: str, ds: object, count: int):
        super().__init__(unique_id, f"series '{unique_id}' has {count} duplicate (unique_id, ds) "
                         f"rows, first at ds={ds}; expected one row per series and timestamp",
                         "ds")


class FrequencyError(SeriesError):
    def __init__(self, unique_id: str, detail: str):
        super().__init__(unique_id, f"series '{unique_id}': {detail}", "ds")


class MissingTimestampsError(FrequencyError):
    def __init__(self, unique_id: str, freq: str, count: int, first: object):
        self.count = count
        super().__init__(unique_id, f"{count} timestamps of its '{freq}' grid are missing "
                         f"(first {first}); set data.fill to 'interpolate' or 'ffill' to add "
                         "and fill them, or add the rows")


class NonFiniteValueError(SeriesError):
    def __init__(self, column: str, unique_id: str, count: int, first_ds: object):
        field = "y" if column == "y" else f"covariates.{column}"
        super().__init__(unique_id, f"column '{column}' of series '{unique_id}' has {count} "
                         f"NaN/inf values (first at ds={first_ds}); set data.fill to 'ffill' or "
                         "'interpolate', or clean the data", field, column)


class SeriesTooShortError(SeriesError):
    def __init__(self, unique_id: str, length: int, needed: int, what: str = "lookback + horizon"):
        super().__init__(unique_id, f"series '{unique_id}' has {length} points; expected at "
                         f"least {needed} ({what})", "y")


class MissingFutureCovariateError(SeriesError):
    def __init__(self, column: str, unique_id: str, have: int, needed: int):
        super().__init__(unique_id, f"future covariate '{column}' of series '{unique_id}' has "
                         f"{have} values after the last observed y; expected {needed} (one per "
                         "forecast step)", f"covariates.{column}", column)


class ValueRangeError(SeriesError):
    """Finite, but too large for float32 arithmetic to give a meaningful forecast."""

    def __init__(self, column: str, unique_id: str, value: float, limit: float, what: str):
        field = "y" if column == "y" else f"covariates.{column}"
        super().__init__(unique_id, f"column '{column}' of series '{unique_id}' has the value "
                         f"{value:g}, {what} beyond {limit:g}; expected values in the data's "
                         "range", field, column)


class TimestampRangeError(DataValidationError):
    """Forecast timestamps would fall outside what timestamps can hold (1677-2262)."""

    def __init__(self, last: object, steps: int):
        super().__init__(f"the {steps} timestamps after {last} pass the latest representable "
                         f"timestamp ({_max_timestamp()}); expected history that ends earlier",
                         "ds")


class TimestampOutOfRangeError(DataValidationError):
    """A timestamp outside what nanosecond timestamps hold, the unit every grid computes in."""

    def __init__(self, first: object, last: object):
        import pandas as pd

        super().__init__(f"timestamps from {first} to {last} pass the range timestamps can "
                         f"hold ({pd.Timestamp.min.ceil('s')} to {_max_timestamp()}); expected "
                         "dates within it", "ds")


def _max_timestamp() -> str:
    import pandas as pd

    return str(pd.Timestamp.max.floor("s"))


class ConfigError(ForecastError, ValueError):
    """A configuration value or model name is not valid."""


class ArtifactError(ForecastError):
    """A saved model directory is missing files or is not compatible."""

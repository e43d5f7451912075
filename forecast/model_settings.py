"""The `model:` section of the config: which family, what it emits, how it is trained and
normalised. Its own module because every family adds a settings section to it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .calibration import MedianMode
from .models import FamilyConfig, ModelFamily, get_family
from .models.normalization import NO_INSTANCE_NORM, Method, Normalization
from .models.registry import Weighting


class Section(BaseModel):
    """A config section: unknown keys fail loudly with the list of valid ones."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


DEFAULT_QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
Loss = Literal["pinball", "mse", "mae", "huber"]


class ModelSettings(Section):
    """The `model:` section. Each registered family adds its own settings section to it
    (`rnn`, `transformer`, ...): see `config_schema`."""

    name: str = "lstm"
    quantiles: list[float] = Field(
        default_factory=lambda: list(DEFAULT_QUANTILES),
        description="levels served; must hold 0.5 (the point forecast); [] = point only")
    loss: Loss | None = Field(
        None, description="None = pinball when quantiles are set, else mse; a point loss with "
        "quantiles trains a point network whose quantiles come from residual conformal")
    loss_weighting: Weighting | None = Field(
        None, description="how a panel's series share the training loss: scale = each in "
        "proportion to its training spread, so the loss is the one in the data's own units "
        "(the panel's MAE); equal = every series the same, in its own units; sqrt = in "
        "proportion to the square root of its spread, between the two; None = the family's "
        "default (ModelFamily.loss_weighting: sqrt for lstm and gru, equal for transformer)")
    calibration: Literal["conformal", "none"] = Field(
        "conformal", description="conformal: quantiles corrected on the validation windows")
    calibration_scale: Literal["series", "window"] = Field(
        "series", description="the unit of the calibration offsets: series = the series' "
        "training spread (fixed widths); window = each lookback window's own spread, so an "
        "interval widens when the series grows more volatile after training")
    calibrate_median: bool | Literal["auto"] | None = Field(
        None, description="conformal calibration also moves the median, per horizon step, by "
        "the median of its errors on the validation windows (a bias correction: a network "
        "that forecast too low there is raised by as much); false keeps the network's median; "
        "auto moves it only when its bias is at least half its error there; None = the "
        "family's default (ModelFamily.calibrate_median: true for lstm, gru and mlp, auto for "
        "transformer)")
    normalization: Method | None = Field(
        None, description="revin: per-series scaling, then each lookback window standardised "
        "by its own mean and spread; series: per-series scaling only; None = the family's "
        "default (ModelFamily.normalization: revin for lstm, gru and transformer)")
    revin_affine: bool = Field(False, description="RevIN's learnable scale and shift")
    series_embedding: int = Field(
        0, ge=0, le=256, description="size of a learned vector per training series added to "
        "the static features (0 = none); unseen series get a shared 'unknown' vector")
    copies: int | None = Field(
        None, ge=1, le=16, description="networks trained side by side from their own random "
        "starts, each on its own loss, served as the mean of their quantiles (a deep "
        "ensemble): lower error for that many times the training and forecasting work; None = "
        "the family's default (ModelFamily.copies: 3 for mlp and transformer, 1 for lstm and gru)")

    @model_validator(mode="before")
    @classmethod
    def _revin_moved(cls, data: Any) -> Any:
        """`transformer.revin` (before normalisation was shared) still reads as before."""
        section = data.get("transformer") if isinstance(data, dict) else None
        if isinstance(section, dict) and "revin" in section:
            section = dict(section)
            revin = section.pop("revin")
            data = {"normalization": "revin" if revin else "series", **data,
                    "transformer": section}
        return data

    @field_validator("quantiles")
    @classmethod
    def _valid_quantiles(cls, value: list[float]) -> list[float]:
        if any(not 0.0 < q < 1.0 for q in value):
            raise ValueError(f"quantiles must lie strictly between 0 and 1, got {value}")
        if len(set(value)) != len(value):
            raise ValueError(f"quantiles must not repeat, got {value}")
        if value and 0.5 not in value:
            raise ValueError(f"quantiles must include 0.5, the median served as the point "
                             f"forecast ('mean'), got {value}")
        return sorted(value)

    @model_validator(mode="after")
    def _loss_fits_quantiles(self) -> ModelSettings:
        if self.loss == "pinball" and not self.quantiles:
            raise ValueError("loss 'pinball' needs quantiles; use mse, mae or huber for a "
                             "point model (quantiles: [])")
        if self.point_head and self.quantiles and self.calibration == "none" \
                and self.family.neural:
            raise ValueError(f"a point network (loss {self.training_loss!r}) gets its quantiles "
                             "from calibration; set calibration: conformal or quantiles: []")
        return self

    @property
    def training_loss(self) -> str:
        return self.loss or ("pinball" if self.quantiles else "mse")

    @property
    def point_head(self) -> bool:
        """Whether the network emits one point column (quantiles then come from residuals)."""
        return not self.quantiles or self.training_loss != "pinball" or \
            not self.family.quantiles

    @property
    def normalizer(self) -> Normalization:
        """What the network is wrapped in; baselines read raw scaled values."""
        if not self.family.neural:
            return NO_INSTANCE_NORM
        return Normalization(self.normalization or self.family.normalization, self.revin_affine)

    @property
    def weighting(self) -> str:
        """How the series share the loss: the setting, or the family's measured default."""
        return self.loss_weighting or self.family.loss_weighting

    @property
    def median_calibrated(self) -> MedianMode:
        """Whether calibration moves the median (true, false or auto): the setting, or the
        family's measured default."""
        if self.calibrate_median is None:
            return self.family.calibrate_median
        return self.calibrate_median

    @property
    def network_copies(self) -> int:
        """How many networks training fits (`copies`, or the family's default); 1 for a
        baseline, which has no network."""
        if not self.family.neural:
            return 1
        return self.copies or self.family.copies

    @property
    def resolved(self) -> dict[str, Any]:
        """The settings whose None means a default (the family's, or the quantiles'), as
        training used them: what a run should record."""
        return {"loss": self.training_loss, "loss_weighting": self.weighting,
                "normalization": self.normalizer.method if self.family.neural else None,
                "calibrate_median": self.median_calibrated if self.family.neural else None,
                "copies": self.network_copies if self.family.neural else None}

    @property
    def family(self) -> ModelFamily:
        return get_family(self.name)

    @property
    def architecture(self) -> FamilyConfig:
        """The settings of the named family (its section, or the family's defaults)."""
        family = self.family
        return getattr(self, family.section) if family.section else family.config_class()

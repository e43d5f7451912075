"""The one registry of model families: each family file registers itself here.

Names, CLI choices, "is neural", "returns attention" and the config schema are all read from
this registry, so adding a family means adding one file to `forecast/models/` (or publishing
a package with a `forecast.models` entry point).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict
from torch import nn

from ..calibration import MedianMode
from ..errors import ConfigError
from .base import ModelDims
from .normalization import Method

Weighting = Literal["equal", "sqrt", "scale"]  # how a panel's series share the loss


class FamilyConfig(BaseModel):
    """Base of every family's config: validates its YAML section and is stored in config.json."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def as_built(self) -> FamilyConfig:
        """The settings of the network these build: a setting that training decides (an
        `auto`) reads as what an undecided build makes. What a predictor holds and saves."""
        return self


@dataclass(frozen=True)
class ModelFamily:
    """A model family and what it can do.

    `section` is its key under `model:` in the YAML config (families may share one, as
    lstm and gru share `rnn`); None means the family has no settings of its own.
    """

    name: str
    config_class: type[FamilyConfig]
    build: Callable[[ModelDims, FamilyConfig], nn.Module]
    section: str | None = None
    neural: bool = True  # has weights that training fits
    attention: bool = False  # network.step_attention(batch) -> (B, L) explains its forecasts
    quantiles: bool = True  # can emit several quantiles per step
    # the default of `model.normalization` ("revin" or "series"), picked by benchmarks/peers.py
    normalization: Method = "revin"
    # the default of `model.loss_weighting` ("equal", "sqrt" or "scale"), measured in
    # docs/benchmarks.md ("Loss weighting across a panel")
    loss_weighting: Weighting = "equal"
    # the default of `model.calibrate_median` (true, false or "auto"), measured in
    # docs/benchmarks.md ("Calibrating the median")
    calibrate_median: MedianMode = False
    # the default of `model.copies` (networks trained side by side, their quantiles averaged),
    # measured in docs/benchmarks.md ("Copies of one network")
    copies: int = 1
    description: str = ""
    # what `forecast tune` searches: (an Optuna trial, the config with the data's settings
    # resolved) -> {dotted config key: value}; the config lets a space fit the data and the
    # family settings the user chose
    search_space: Callable[[Any, Any], dict[str, Any]] | None = None


_FAMILIES: dict[str, ModelFamily] = {}
_revision = 0


def register(family: ModelFamily) -> ModelFamily:
    """Add (or replace) a family; configs validated afterwards know it."""
    global _revision
    for field, value, allowed in (("normalization", family.normalization, get_args(Method)),
                                  ("loss_weighting", family.loss_weighting,
                                   get_args(Weighting)),
                                  ("calibrate_median", family.calibrate_median,
                                   (True, False, "auto"))):
        if value not in allowed:
            raise ConfigError(f"family '{family.name}': {field} {value!r} is not one of "
                              f"{', '.join(allowed)}")
    if not 1 <= family.copies <= 16:
        raise ConfigError(f"family '{family.name}': copies {family.copies} is not within 1..16")
    for other in _FAMILIES.values():
        if (family.section and other.name != family.name and other.section == family.section
                and other.config_class is not family.config_class):
            raise ConfigError(f"family '{family.name}' reuses section '{family.section}' of "
                              f"'{other.name}' with a different config class")
    _FAMILIES[family.name] = family
    _revision += 1
    return family


def unregister(name: str) -> None:
    global _revision
    _FAMILIES.pop(name, None)
    _revision += 1


def revision() -> int:
    """Changes whenever the set of families does (configs cache their schema on it)."""
    return _revision


def families() -> list[ModelFamily]:
    return list(_FAMILIES.values())


def family_names() -> list[str]:
    return list(_FAMILIES)


def tunable_names() -> list[str]:
    """Families with a search space, so `forecast tune` can tune them."""
    return [f.name for f in _FAMILIES.values() if f.search_space is not None]


def shared_draws(trial: Any, section: str) -> dict[str, Any]:
    """The draws every family's search space makes, in the same ranges, so studies of
    different families explore the same training settings: the family's dropout and the
    learning rate (an Optuna trial's suggestions)."""
    return {
        f"model.{section}.dropout": trial.suggest_float("dropout", 0.0, 0.3),
        "trainer.learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
    }


def get_family(name: str) -> ModelFamily:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ConfigError(f"unknown model '{name}'; valid choices: {family_names()}") from None


def sections() -> dict[str, type[FamilyConfig]]:
    """YAML section name -> config class, for the config schema."""
    return {f.section: f.config_class for f in _FAMILIES.values() if f.section}


def build_model(name: str, dims: ModelDims, architecture: dict | FamilyConfig | None = None
                ) -> nn.Module:
    """The network of family `name` for these dimensions and (validated) architecture."""
    family = get_family(name)
    config = (architecture if isinstance(architecture, family.config_class)
              else family.config_class.model_validate(architecture or {}))
    return family.build(dims, config)


def discover() -> None:
    """Import every module of this package, then every `forecast.models` entry point."""
    for module in pkgutil.iter_modules(_package_path()):
        if module.name not in ("registry", "base") and not module.name.startswith("_"):
            importlib.import_module(f"{__package__}.{module.name}")
    for entry in entry_points(group="forecast.models"):
        entry.load()


def _package_path() -> list[str]:
    return list(importlib.import_module(__package__).__path__)

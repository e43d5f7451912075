"""Model families: one file each, registered in `registry`; every other layer reads from there."""

from __future__ import annotations

from .base import ForecastHead, ModelDims
from .registry import (
    FamilyConfig,
    ModelFamily,
    build_model,
    discover,
    families,
    family_names,
    get_family,
    register,
    tunable_names,
)

discover()

__all__ = [
    "FamilyConfig",
    "ForecastHead",
    "ModelDims",
    "ModelFamily",
    "build_model",
    "families",
    "family_names",
    "get_family",
    "register",
    "tunable_names",
]

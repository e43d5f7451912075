"""Data layer: load long-format frames, validate them against the contract, build tensors."""

from .loading import load_frame, load_vic_elec
from .panel import Panel, SeriesArrays, build_panel
from .scaling import SeriesScaler
from .split import SplitBounds, split_bounds
from .validation import infer_freq, validate_frame

__all__ = [
    "Panel",
    "SeriesArrays",
    "SeriesScaler",
    "SplitBounds",
    "build_panel",
    "infer_freq",
    "load_frame",
    "load_vic_elec",
    "split_bounds",
    "validate_frame",
]

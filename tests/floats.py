"""Comparing float32 forecasts made by different code paths (batch shapes, processes, CPU kinds).

The order of a batched matmul's sums differs between batch shapes and between CPU kinds
(AVX2, AVX-512), so the same model gives results a few units in the last place apart. An
absolute tolerance below float32's resolution at the data's magnitude (1e-4 near 8,000 is
under one unit in the last place) fails on some machines: tolerances here scale with the
values compared.
"""

from __future__ import annotations

import numpy as np

RTOL = 1e-5  # about 80 float32 units in the last place: far from any real disagreement


def assert_forecasts_close(actual, expected, rtol: float = RTOL) -> None:
    """Element-wise |actual - expected| <= rtol * (|expected| + the data's magnitude), so
    values near zero (a quantile crossing zero) are held to the scale of the whole forecast."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    scale = float(np.nanmax(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-12))

"""After deployment: the forecast log (what was served), live scores once actuals arrive, a
status rule that says when to act, input drift, and intervals that adapt online.

Pure functions (scores, status, adaptive offsets) do no I/O; `store.py` is the one module
that talks to a database (SQLAlchemy: SQLite by default, PostgreSQL in the compose stack).
"""

from .adaptive import AdaptiveOffsets, learn_offsets, replay_offsets, track_quantiles
from .scores import LiveScores, live_scores
from .status import Assessment, StatusRule, assess, drift_by_series, monitoring_status
from .store import ForecastLog, ForecastRecord

__all__ = ["AdaptiveOffsets", "Assessment", "ForecastLog", "ForecastRecord", "LiveScores",
           "StatusRule", "assess", "drift_by_series", "learn_offsets", "live_scores",
           "monitoring_status", "replay_offsets", "track_quantiles"]

"""Write tests/golden/: a tiny GRU saved by this version, and the forecast it must keep giving."""
import json
from pathlib import Path

from forecast import Forecaster, build_config
from forecast.artifacts import FORMAT_VERSION
from tests.conftest import make_panel, tiny_config_values

root = Path(__file__).parent  # run from the repository root: python -m tests.golden.make_golden
frame = make_panel()
forecaster = Forecaster("gru", build_config(tiny_config_values())).fit(frame)
name = f"gru-format{FORMAT_VERSION}"  # the current format; earlier ones stay as saved
forecaster.save(root / name)
history = frame.groupby("unique_id").head(300)
future = frame.groupby("unique_id").nth(list(range(300, 306))).drop(columns=["y"])
out = forecaster.predict(history, future_df=future)
(root / f"{name}-forecast.json").write_text(json.dumps(
    {"ds": out["ds"].astype(str).tolist(), "unique_id": out["unique_id"].tolist(),
     "mean": out["mean"].tolist()}, indent=1))

"""Write tests/golden/: a tiny GRU saved by this version, and the forecast it must keep giving."""
import json
from pathlib import Path

from forecast import Forecaster, build_config
from tests.conftest import make_panel, tiny_config_values

root = Path(__file__).parent  # run from the repository root: python -m tests.golden.make_golden
frame = make_panel()
forecaster = Forecaster("gru", build_config(tiny_config_values())).fit(frame)
forecaster.save(root / "gru-format2")
history = frame.groupby("unique_id").head(300)
future = frame.groupby("unique_id").nth(list(range(300, 306))).drop(columns=["y"])
out = forecaster.predict(history, future_df=future)
(root / "gru-format2-forecast.json").write_text(json.dumps(
    {"ds": out["ds"].astype(str).tolist(), "unique_id": out["unique_id"].tolist(),
     "mean": out["mean"].tolist()}, indent=1))

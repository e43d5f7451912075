"""Write tests/golden/transformer-format2: run against commit ae2c68c (format 2), whose
Transformer had RevIN inside its network, with a series embedding."""
import json
import sys
from pathlib import Path

from forecast import Forecaster, build_config
from tests.conftest import make_panel, tiny_config_values

root = Path(sys.argv[1])
frame = make_panel()
values = tiny_config_values()
values["model"]["series_embedding"] = 2
forecaster = Forecaster("transformer", build_config(values)).fit(frame)
forecaster.save(root / "transformer-format2")
history = frame.groupby("unique_id").head(300)
future = frame.groupby("unique_id").nth(list(range(300, 306))).drop(columns=["y"])
out = forecaster.predict(history, future_df=future)
(root / "transformer-format2-forecast.json").write_text(json.dumps(
    {"ds": out["ds"].astype(str).tolist(), "unique_id": out["unique_id"].tolist(),
     "mean": out["mean"].tolist()}, indent=1))

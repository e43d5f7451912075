from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import make_panel, tiny_config_values
from tests.servers import mlflow_server


def write_project(root: Path) -> tuple[Path, Path]:
    """A CSV in long format and a tiny config pointing at it."""
    root.mkdir(parents=True, exist_ok=True)
    data = root / "panel.csv"
    make_panel().to_csv(data, index=False)
    values = tiny_config_values()
    values["data"]["path"] = str(data)
    values["models"] = ["naive", "seasonal_naive", "gru", "transformer"]
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(values))
    return data, config


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow-store")) as (uri, _):
        yield uri


@pytest.fixture
def project(tmp_path, monkeypatch):
    _, config = write_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return config

from __future__ import annotations

import pytest

from pipelines.cli import main
from tests.pipelines.conftest import write_project
from tests.servers import bento_server, mlflow_server
from tests.service.helpers import API_KEY


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    """Tracking server with a registered champion, and the service in front of it."""
    root = tmp_path_factory.mktemp("stack")
    _, config = write_project(root / "project")
    mp = pytest.MonkeyPatch()
    with mlflow_server(root / "store") as (uri, _):
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(root / "project")
        assert main(["compare", "--config", str(config), "--set", "models=[gru]"]) == 0
        env = {"MLFLOW_TRACKING_URI": uri, "FORECAST_CACHE_DIR": str(root / "cache"),
               "FORECAST_API_KEY": API_KEY, "FORECAST_MAX_SERIES": "5",
               "FORECAST_MAX_BODY_BYTES": "1000000", "FORECAST_MAX_EXPLAIN_SERIES": "2"}
        with bento_server(env, root / "bento.log") as url:
            yield {"url": url, "uri": uri, "root": root, "config": config, "env": env}
    mp.undo()

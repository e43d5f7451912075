"""Find the model behind an alias in the MLflow registry, keep a local copy, load it.

The local copy lets the service start and serve while the registry is unreachable.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from forecast import Forecaster as ForecastModel
from forecast.artifacts import CONFIG, find_artifact
from forecast.errors import ForecastError

log = logging.getLogger("forecast.service")


@dataclass
class LoadedModel:
    model: ForecastModel
    name: str
    version: str
    alias: str
    run_id: str | None
    source: str  # "registry" | "cache"
    architecture: str
    loaded_at: float = field(default_factory=time.time)


class ModelUnavailableError(ForecastError):
    """Neither the registry nor the local cache can provide a model."""


class ModelSource:
    def __init__(self, name: str, alias: str, cache_dir: Path):
        self.name, self.alias, self.cache_dir = name, alias, cache_dir

    @property
    def pointer(self) -> Path:
        return self.cache_dir / self.name / f"{self.alias}.json"

    def _client(self) -> MlflowClient:
        return MlflowClient(mlflow.get_tracking_uri(), mlflow.get_registry_uri())

    def resolve_version(self) -> tuple[str, str | None]:
        """(version, run_id) the alias points to now; raises when the registry is unreachable."""
        version = self._client().get_model_version_by_alias(self.name, self.alias)
        return str(version.version), version.run_id

    def _download(self, version: str) -> Path:
        target = self.cache_dir / self.name / f"v{version}"
        if (target / CONFIG).is_file():
            return target
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        local = Path(mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{self.name}/{version}", dst_path=str(staging)))
        found = find_artifact(local, f"{self.name} v{version}")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(found, target)
        shutil.rmtree(staging, ignore_errors=True)
        return target

    def _load(self, directory: Path, version: str, run_id: str | None, source: str) -> LoadedModel:
        model = ForecastModel.load(directory)
        model.smoke_test()  # a version that cannot predict is refused here
        return LoadedModel(model, self.name, version, self.alias, run_id, source, model.name)

    def load_from_registry(self, version: str, run_id: str | None) -> LoadedModel:
        loaded = self._load(self._download(version), version, run_id, "registry")
        self.pointer.parent.mkdir(parents=True, exist_ok=True)
        self.pointer.write_text(json.dumps({"version": version, "run_id": run_id}))
        return loaded

    def load_cached(self) -> LoadedModel:
        if not self.pointer.is_file():
            raise ModelUnavailableError(
                f"no cached copy of {self.name}@{self.alias} in {self.cache_dir}")
        meta = json.loads(self.pointer.read_text())
        directory = self.cache_dir / self.name / f"v{meta['version']}"
        return self._load(directory, meta["version"], meta.get("run_id"), "cache")

    def load_initial(self) -> LoadedModel | None:
        """Registry first; on failure the cached copy; None when there is neither."""
        try:
            version, run_id = self.resolve_version()
            loaded = self.load_from_registry(version, run_id)
            log.info("serving %s v%s (alias %s) from the registry", self.name, version,
                     self.alias)
            return loaded
        except Exception as err:  # noqa: BLE001 - registry down or alias missing
            reason = f"{type(err).__name__}: {str(err)[:200]}"
        try:
            loaded = self.load_cached()
            log.warning("registry unavailable (%s); serving cached %s v%s", reason, self.name,
                        loaded.version)
            return loaded
        except Exception as err:  # noqa: BLE001
            log.warning("no model to serve yet (%s; %s); /predict answers 503 until a reload "
                        "finds %s@%s", reason, err, self.name, self.alias)
            return None

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

from forecast import Ensemble, Predictor, load_model
from forecast.artifacts import is_model_dir
from forecast.errors import ForecastError
from pipelines.redaction import redact
from pipelines.registry import download_model_dir, registry_client, version_by_alias

log = logging.getLogger("forecast.service")


@dataclass(frozen=True)
class LoadedModel:
    predictor: Predictor | Ensemble
    name: str
    version: str
    alias: str
    run_id: str | None
    source: str  # "registry" | "cache" | "directory"
    loaded_at: float = field(default_factory=time.time)


class ModelUnavailableError(ForecastError):
    """Neither the registry nor the local cache can provide a model."""


def load_model_dir(directory: Path, name: str, version: str, alias: str, run_id: str | None,
                   source: str) -> LoadedModel:
    """Load a model directory and prove it predicts; a version that cannot is refused here."""
    predictor = load_model(directory)
    predictor.smoke_test()
    return LoadedModel(predictor, name, version, alias, run_id, source)


class ModelSource:
    def __init__(self, name: str, alias: str, cache_dir: Path):
        self.name, self.alias, self.cache_dir = name, alias, cache_dir

    @property
    def pointer(self) -> Path:
        return self.cache_dir / self.name / f"{self.alias}.json"

    def resolve_version(self) -> tuple[str, str | None]:
        """(version, run_id) the alias points to now; raises when the registry is unreachable
        or the alias is not set."""
        version = version_by_alias(registry_client(), self.name, self.alias)
        if version is None:
            raise ModelUnavailableError(f"{self.name}@{self.alias} is not set in the registry")
        return str(version.version), version.run_id

    def _download(self, version: str) -> Path:
        target = self.cache_dir / self.name / f"v{version}"
        if is_model_dir(target):
            return target
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        found = download_model_dir(f"models:/{self.name}/{version}", staging)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(found, target)
        shutil.rmtree(staging, ignore_errors=True)
        return target

    def load_from_registry(self, version: str, run_id: str | None) -> LoadedModel:
        loaded = load_model_dir(self._download(version), self.name, version, self.alias, run_id,
                                "registry")
        self.pointer.parent.mkdir(parents=True, exist_ok=True)
        self.pointer.write_text(json.dumps({"version": version, "run_id": run_id}))
        return loaded

    def load_cached(self) -> LoadedModel:
        if not self.pointer.is_file():
            raise ModelUnavailableError(
                f"no cached copy of {self.name}@{self.alias} in {self.cache_dir}")
        meta = json.loads(self.pointer.read_text())
        directory = self.cache_dir / self.name / f"v{meta['version']}"
        return load_model_dir(directory, self.name, meta["version"], self.alias,
                              meta.get("run_id"), "cache")

    def load_initial(self) -> LoadedModel | None:
        """Registry first; on failure the cached copy; None when there is neither."""
        try:
            version, run_id = self.resolve_version()
            loaded = self.load_from_registry(version, run_id)
            log.info("serving %s v%s (alias %s) from the registry", self.name, version,
                     self.alias)
            return loaded
        except Exception as err:  # noqa: BLE001 - registry down or alias missing
            reason = redact(f"{type(err).__name__}: {str(err)[:300]}")
        try:
            loaded = self.load_cached()
            log.warning("registry unavailable (%s); serving cached %s v%s", reason, self.name,
                        loaded.version)
            return loaded
        except Exception as err:  # noqa: BLE001
            log.warning("no model to serve yet (%s; %s); /predict answers 503 until a reload "
                        "finds %s@%s", reason, redact(str(err)), self.name, self.alias)
            return None

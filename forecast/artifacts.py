"""The model directory: model.safetensors + config.json + scaler.json. Nothing is pickled."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .errors import ArtifactError

FORMAT_VERSION = 3
WEIGHTS, CONFIG, SCALER = "model.safetensors", "config.json", "scaler.json"
ENSEMBLE = "ensemble.json"  # an ensemble's directory: this, and its members' directories


def save_artifact(directory: str | Path, state_dict: dict[str, torch.Tensor], config: dict,
                  scaler: dict) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    save_file(tensors, directory / WEIGHTS)
    (directory / CONFIG).write_text(json.dumps({"format_version": FORMAT_VERSION, **config},
                                               indent=2, sort_keys=True))
    (directory / SCALER).write_text(json.dumps(scaler, indent=2, sort_keys=True))
    return directory


def find_artifact(root: str | Path, source: str) -> Path:
    """The model directory at or below `root` (inside a downloaded MLflow model, for one): an
    ensemble's (the one holding ensemble.json, above its members') or else a single model's;
    `source` names where `root` came from in the error."""
    for marker in (ENSEMBLE, CONFIG):
        found = sorted(Path(root).rglob(marker), key=lambda p: (len(p.parts), str(p)))
        if found:
            return found[0].parent
    raise ArtifactError(f"{source} holds no forecast model directory (no {CONFIG})")


def is_model_dir(directory: str | Path) -> bool:
    """Whether `directory` holds a complete model of either kind (a cache hit, say)."""
    return any((Path(directory) / marker).is_file() for marker in (ENSEMBLE, CONFIG))


def load_artifact(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict, dict]:
    directory = Path(directory)
    for name in (WEIGHTS, CONFIG, SCALER):
        if not (directory / name).is_file():
            raise ArtifactError(f"model directory {directory} lacks {name}; expected "
                                f"{WEIGHTS}, {CONFIG} and {SCALER}")
    config = json.loads((directory / CONFIG).read_text())
    weights = load_file(directory / WEIGHTS)
    if config.get("format_version") == 1:
        config = upgrade_v1(config)
    if config.get("format_version") == 2:
        config, weights = upgrade_v2(config, weights)
    if config.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{directory / CONFIG}: format_version "
                            f"{config.get('format_version')} is not {FORMAT_VERSION}")
    return weights, config, json.loads((directory / SCALER).read_text())


def upgrade_v1(config: dict) -> dict:
    """Version 1 (0.1.0) repeated the family and season inside `architecture` and kept a `dims`
    block that is now derived; models already in a registry keep loading."""
    architecture = {k: v for k, v in config["architecture"].items()
                    if k not in ("cell", "kind", "season")}
    rest = {k: v for k, v in config.items() if k != "dims"}
    return {**rest, "format_version": 2, "architecture": architecture}


def upgrade_v2(config: dict, weights: dict[str, torch.Tensor]
               ) -> tuple[dict, dict[str, torch.Tensor]]:
    """Version 2 had instance normalisation only as the Transformer's `revin` flag, inside
    its network; version 3 wraps any family's network (`model.normalization`), one module
    level deeper (under the series embedding's `inner.`, when there is one). Recurrent
    networks of version 2 decoded from their last state only."""
    architecture = dict(config["architecture"])
    revin = bool(architecture.pop("revin", False))
    if config["name"] in ("lstm", "gru"):
        architecture.setdefault("decoder", "last")  # v2 recurrent heads read h_L only
    config = {**config, "format_version": 3, "architecture": architecture,
              "normalization": {"method": "revin" if revin else "series", "affine": False}}
    if revin:
        outer = "inner." if config.get("series_embedding") else ""
        weights = {(outer + "inner." + k[len(outer):] if k.startswith(outer) and
                    k != "table.weight" else k): v for k, v in weights.items()}
    return config, weights

"""The one rule for `--config`: a file path, or the name of a preset in pipelines/configs/."""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = Path(__file__).with_name("configs")


def config_path(value: str | None, default: str = "default") -> Path:
    """`quick` finds pipelines/configs/quick.yaml; an existing path is used as is."""
    value = value or default
    path = Path(value)
    if not path.exists() and (CONFIG_DIR / f"{value}.yaml").exists():
        return CONFIG_DIR / f"{value}.yaml"
    return path

"""Read docker-compose.yml the way Compose does: YAML plus ${VAR} interpolation."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def variables_used(text: str) -> dict[str, str | None]:
    """Every ${VAR} in the file with its operator ('-', ':-', '?', ':?' or None)."""
    return {m["name"]: m["op"] for m in _VAR.finditer(text) if m["name"]}


def interpolate(value, env: dict[str, str]):
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def replace(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m["name"], m["op"], m["arg"]
        current = env.get(name)
        if op in (":-", "-"):
            return current if current not in (None, "") or op == "-" and current is not None \
                else arg
        if op in (":?", "?") and not current:
            raise KeyError(f"{name}: {arg}")
        return current or ""

    return _VAR.sub(replace, value)


def load_compose(env: dict[str, str] | None = None, raw: bool = False) -> dict:
    data = yaml.safe_load(COMPOSE.read_text())
    return data if raw else interpolate(data, env if env is not None else read_env_file())

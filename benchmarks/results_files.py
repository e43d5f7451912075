"""Where benchmark figures go: benchmarks/results/<name>.json, and .md when there is a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def save_results(name: str, data: Any, markdown: str | None = None) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2))
    if markdown is not None:
        (RESULTS / f"{name}.md").write_text(markdown)

"""The README as a new user reads it: short, its figures generated from the results they
quote, its examples runnable as pasted."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
sys.path.insert(0, str(ROOT / "benchmarks"))
import readme_figures  # noqa: E402 - benchmarks/ is scripts, not a package


def test_the_readme_is_short():
    assert len(README.splitlines()) < 200


def test_its_figures_and_table_are_generated_from_their_sources():
    assert readme_figures.render(README) == README, "run python benchmarks/readme_figures.py"


def test_its_links_to_files_point_at_files():
    for target in re.findall(r"\]\(((?:docs|examples|benchmarks)/[^)#]+)", README):
        assert (ROOT / target).exists(), target


def test_the_request_file_is_the_demo_models_real_request():
    from pipelines.client import vic_elec_request

    body, _ = vic_elec_request()
    assert json.loads((ROOT / "examples" / "request.json").read_text()) == json.loads(
        json.dumps(body, default=str))


def test_the_actuals_file_holds_what_happened_on_the_requested_day():
    from pipelines.client import vic_elec_request

    _, actual = vic_elec_request()
    body = json.loads((ROOT / "examples" / "actuals.json").read_text())["series"][0]
    assert body["ds"] == actual["ds"].dt.strftime("%Y-%m-%dT%H:%M:%S").tolist()
    assert body["y"] == pytest.approx(actual["y"].tolist(), abs=1e-3)


@pytest.mark.slow
def test_the_python_example_runs_as_pasted(tmp_path):
    block = README.split("## Python in five lines", 1)[1].split("```python\n", 1)[1]
    code = block.split("```", 1)[0]
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # unique_id, ds, mean and the seven default quantiles
    assert "[5 rows x 10 columns]" in done.stdout and (tmp_path / "my-model" / "model.safetensors").exists()

"""Generated requests from the service's OpenAPI document: no 5xx, answers match the document."""

from __future__ import annotations

from tests.service.fuzz import run_schemathesis
from tests.service.helpers import API_KEY


def test_schemathesis_finds_no_server_error(stack, tmp_path):
    code, counts = run_schemathesis(stack["url"], API_KEY, examples=100,
                                    report=tmp_path / "events.ndjson", timeout=300)
    output = (tmp_path / "schemathesis.txt").read_text()
    assert counts["requests"] > 50, output[-3000:]
    assert counts["server_errors"] == 0, output[-3000:]
    assert code == 0, output[-5000:]

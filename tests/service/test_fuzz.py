"""Generated requests from the service's OpenAPI document: no 5xx, answers match the document,
and every answer that is not 2xx is the documented error body."""

from __future__ import annotations

from tests.service.fuzz import run_schemathesis
from tests.service.helpers import API_KEY


def test_schemathesis_finds_no_server_error(stack, tmp_path):
    code, counts = run_schemathesis(stack["url"], API_KEY, examples=200, folder=tmp_path,
                                    timeout=300)
    output = "".join(p.read_text() for p in sorted(tmp_path.glob("*.txt")))
    assert counts["requests"] >= 400, output[-3000:]
    assert counts["server_errors"] == 0, output[-3000:]
    assert counts["off_contract"] == 0, counts["off_contract_examples"]
    assert code == 0, output[-5000:]

"""Schemathesis against the running service, from its own OpenAPI document (shared by the test
and `benchmarks/fuzz_service.py`)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"


def run_schemathesis(url: str, api_key: str, examples: int, folder: Path,
                     timeout: float = 600) -> tuple[int, dict]:
    """Worst exit code and the counts read from the NDJSON event logs: requests sent, 5xx
    answers, answers off the error contract. Valid (positive) and invalid (negative) data run
    as separate passes, each repeated with the next seed until it sent `examples` requests
    (at most 10 passes): schemathesis 4.32 often stops generating valid bodies early, and in
    its mixed mode made about 10 however many were asked for."""
    st = Path(sys.executable).with_name("st")
    folder.mkdir(parents=True, exist_ok=True)
    codes, totals = [], {"requests": 0, "server_errors": 0, "statuses": {}, "passes": 0,
                         "off_contract": 0, "off_contract_examples": []}
    for mode in ("positive", "negative"):
        sent, seed = 0, 1
        while sent < examples and seed <= 10:
            report = folder / f"{mode}-{seed}.ndjson"
            cmd = [str(st), "run", f"{url}/docs.json", "--url", url, "--checks", CHECKS,
                   "--mode", mode, "--max-examples", str(examples),
                   "--header", f"Authorization: Bearer {api_key}", "--seed", str(seed),
                   "--request-timeout", "60", "--report", "ndjson", "--report-ndjson-path",
                   str(report), "--suppress-health-check", "all",
                   "--exclude-path", "/reload"]  # reload is exercised by its own tests
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            (folder / f"{mode}-{seed}.txt").write_text(done.stdout + done.stderr)
            codes.append(done.returncode)
            counts = count(report)
            sent += counts["requests"]
            seed += 1
            totals["passes"] += 1
            totals["requests"] += counts["requests"]
            totals["server_errors"] += counts["server_errors"]
            totals["off_contract"] += counts["off_contract"]
            totals["off_contract_examples"] += counts["off_contract_examples"][:3]
            for code, n in counts["statuses"].items():
                totals["statuses"][code] = totals["statuses"].get(code, 0) + n
    return max(codes), totals


def count(report: Path) -> dict:
    """Statuses, 5xx answers, and non-2xx answers off the error contract (not JSON with
    exactly `error` and `field`, or 16 KB and more)."""
    statuses: dict[str, int] = {}
    off_contract: list[str] = []
    for line in report.read_text().splitlines():
        for response in _responses(json.loads(line)):
            code = str(response["status_code"])
            statuses[code] = statuses.get(code, 0) + 1
            if not code.startswith("2") and not in_contract(response.get("content")):
                off_contract.append(f"{code}: {str(response.get('content'))[:200]}")
    server_errors = sum(n for code, n in statuses.items() if code.startswith("5"))
    return {"requests": sum(statuses.values()), "server_errors": server_errors,
            "statuses": statuses, "off_contract": len(off_contract),
            "off_contract_examples": off_contract[:3]}


def in_contract(content) -> bool:
    raw = base64.b64decode(content["$base64"]) if isinstance(content, dict) else content
    if not isinstance(raw, (bytes, str)) or len(raw) >= 16 * 1024:
        return False
    try:
        body = json.loads(raw)
    except ValueError:
        return False
    return isinstance(body, dict) and set(body) == {"error", "field"}


def _responses(node):
    """Every response anywhere in one NDJSON event."""
    if isinstance(node, dict):
        if isinstance(node.get("status_code"), int) and "elapsed" in node:
            yield node
        for value in node.values():
            yield from _responses(value)
    elif isinstance(node, list):
        for value in node:
            yield from _responses(value)

"""Schemathesis against the running service, from its own OpenAPI document (shared by the test
and `benchmarks/fuzz_service.py`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"


def run_schemathesis(url: str, api_key: str, examples: int, folder: Path,
                     timeout: float = 600) -> tuple[int, dict]:
    """Worst exit code and the counts read from the NDJSON event logs: requests sent, 5xx
    answers. Valid (positive) and invalid (negative) data run as separate passes, each
    repeated with the next seed until it sent `examples` requests (at most 10 passes):
    schemathesis 4.32 often stops generating valid bodies early, and in its mixed mode made
    about 10 however many were asked for."""
    st = Path(sys.executable).with_name("st")
    folder.mkdir(parents=True, exist_ok=True)
    codes, totals = [], {"requests": 0, "server_errors": 0, "statuses": {}, "passes": 0}
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
            for code, n in counts["statuses"].items():
                totals["statuses"][code] = totals["statuses"].get(code, 0) + n
    return max(codes), totals


def count(report: Path) -> dict:
    statuses: dict[str, int] = {}
    for line in report.read_text().splitlines():
        for code in _status_codes(json.loads(line)):
            statuses[str(code)] = statuses.get(str(code), 0) + 1
    server_errors = sum(n for code, n in statuses.items() if code.startswith("5"))
    return {"requests": sum(statuses.values()), "server_errors": server_errors,
            "statuses": statuses}


def _status_codes(node):
    """Every `status_code` of a response anywhere in one NDJSON event."""
    if isinstance(node, dict):
        if "status_code" in node and isinstance(node["status_code"], int) and "elapsed" in node:
            yield node["status_code"]
        for value in node.values():
            yield from _status_codes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _status_codes(value)

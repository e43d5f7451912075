"""Hostile clients of the service, one kind per run, in a process of their own (so the
ordinary client that measures latency in `reliability.py` keeps its event loop):

* slow-bodies: CONNECTIONS (600) that send their headers with a valid key, then one body
  byte every 2 s, each reopened when the server cuts it;
* slow-headers: CONNECTIONS (1000) that send half their headers, then a byte every 2 s;
* explain: 4 clients in a closed loop, each sending the heaviest explain request the service
  accepts (FORECAST_MAX_EXPLAIN_SERIES series, top_k 500);
* amplification: 4 clients in a closed loop, each sending a 4 MB body of `"y": [true, ...]`.

Run: python benchmarks/hostile_clients.py KIND URL KEY SECONDS OUT.json [CONNECTIONS|SERIES]
Writes what the clients were answered: statuses, the largest answer in bytes, requests.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.client import vic_elec_request  # noqa: E402

CLIENTS = 4


def explain_body(series: int) -> bytes:
    body, _ = vic_elec_request()
    one = body["series"][0]
    many = [{**one, "unique_id": f"{one['unique_id']}-{i}"} for i in range(series)]
    return json.dumps({**body, "series": many, "explain": True, "top_k": 500}).encode()


def amplification_body(megabytes: float = 4.0) -> bytes:
    body, _ = vic_elec_request()
    body["series"][0]["y"] = [True] * int(megabytes * 2**20 / 6)  # "true, " is 6 bytes
    return json.dumps(body).encode()


async def closed_loop(url: str, key: str, body: bytes, seconds: float, stats: dict) -> None:
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    deadline = time.perf_counter() + seconds
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        async def one_client() -> None:
            while time.perf_counter() < deadline:
                try:
                    async with client.post(url + "/predict", data=body, headers=headers) as r:
                        answer = await r.read()
                        status = r.status
                except (aiohttp.ClientError, TimeoutError):
                    answer, status = b"", -1
                stats["statuses"][str(status)] = stats["statuses"].get(str(status), 0) + 1
                stats["largest_answer_bytes"] = max(stats["largest_answer_bytes"], len(answer))
                if status != 200:
                    stats["largest_error_bytes"] = max(stats["largest_error_bytes"], len(answer))
        await asyncio.gather(*(one_client() for _ in range(CLIENTS)))


async def trickle(url: str, key: str, connections: int, seconds: float, stats: dict,
                  headers_only: bool) -> None:
    """Open `connections` and feed each a byte every 2 s until the server answers or closes."""
    host, port = url.removeprefix("http://").split(":")
    head = (f"POST /predict HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {key}\r\n"
            "content-type: application/json\r\ncontent-length: 100000\r\n\r\n").encode()
    first = head[:len(head) // 2] if headers_only else head + b"{"
    deadline = time.perf_counter() + seconds

    async def one_connection() -> None:
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            stats["statuses"]["refused"] = stats["statuses"].get("refused", 0) + 1
            return
        opened = time.perf_counter()
        try:
            writer.write(first)
            while time.perf_counter() < deadline:
                try:
                    answer = await asyncio.wait_for(reader.read(65536), timeout=2)
                except TimeoutError:
                    writer.write(b" ")
                    await writer.drain()
                    continue
                status = answer[9:12].decode() if answer.startswith(b"HTTP/") else "closed"
                stats["statuses"][status] = stats["statuses"].get(status, 0) + 1
                stats["largest_error_bytes"] = max(stats["largest_error_bytes"], len(answer))
                stats["held_s"].append(time.perf_counter() - opened)
                return
            stats["statuses"]["still open"] = stats["statuses"].get("still open", 0) + 1
        except (ConnectionError, OSError):
            stats["statuses"]["reset"] = stats["statuses"].get("reset", 0) + 1
            stats["held_s"].append(time.perf_counter() - opened)
        finally:
            writer.close()

    # reopened as the server cuts them, so the pressure lasts the whole run
    async def keep_open() -> None:
        while time.perf_counter() < deadline - 1:
            await one_connection()

    await asyncio.gather(*(keep_open() for _ in range(connections)))


def main() -> None:
    kind, url, key, seconds, out = sys.argv[1:6]
    seconds = float(seconds)
    stats: dict = {"kind": kind, "statuses": {}, "largest_error_bytes": 0,
                   "largest_answer_bytes": 0, "held_s": []}
    if kind == "explain":
        series = int(sys.argv[6]) if len(sys.argv) > 6 else 32
        asyncio.run(closed_loop(url, key, explain_body(series), seconds, stats))
    elif kind == "amplification":
        asyncio.run(closed_loop(url, key, amplification_body(), seconds, stats))
    elif kind in ("slow-bodies", "slow-headers"):
        connections = int(sys.argv[6]) if len(sys.argv) > 6 else 600
        asyncio.run(trickle(url, key, connections, seconds, stats, kind == "slow-headers"))
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    held = sorted(stats.pop("held_s"))
    stats["connection_held_s_max"] = held[-1] if held else None
    Path(out).write_text(json.dumps(stats))


if __name__ == "__main__":
    main()

"""Race tests: several workers (threads) making the same call in the same instant."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def together(workers: int, call: Callable[[Any], Any],
             prepare: Callable[[int], Any] = lambda i: i) -> list:
    """`call(prepare(i))` in each of `workers` threads, the calls released at once; `prepare`
    (a connection of its own, say) runs before, so slow set-up does not spread them out."""
    start = threading.Barrier(workers, timeout=60)

    def worker(i: int):
        ready = prepare(i)
        start.wait()
        return call(ready)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(worker, range(workers)))

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


def read_while_rewritten(write: Callable[[], Any], read: Callable[[], Any],
                         times: int = 300, rewrites: int = 20) -> list:
    """What a reader of a file sees while another worker rewrites it: `read()` at least
    `times` times, and on until another thread has run `write()` `rewrites` times, so the
    reads span many rewrites however slow a write is."""
    stop, written = threading.Event(), [0]

    def rewrite() -> None:
        while not stop.is_set():
            write()
            written[0] += 1

    writer = threading.Thread(target=rewrite)
    writer.start()
    reads = []
    try:
        while len(reads) < times or written[0] < rewrites:
            reads.append(read())
    finally:
        stop.set()
        writer.join()
    return reads

"""Adaptive micro-batching: concurrent requests share one forward pass.

Requests queue instead of being shed. A batch takes everything that queued while the previous
one ran (up to `max_batch_size`), and waits at most `max_wait_ms` for more: with the default 0
a lone request runs at once, and under load batches grow by themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

KEEP = 1024  # batch sizes kept for inspection; older ones are dropped


@dataclass
class _Pending:
    key: Any
    item: Any
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    def __init__(self, run: Callable[[Any, Sequence[Any]], Sequence[Any]], max_batch_size: int,
                 max_wait_ms: float):
        self.run, self.max_batch_size, self.max_wait = run, max_batch_size, max_wait_ms / 1000
        self.queue: asyncio.Queue[_Pending] | None = None
        self.worker: asyncio.Task | None = None
        self.batch_sizes: list[int] = []  # sizes of the latest batches (at most KEEP)

    async def submit(self, key: Any, items: Sequence[Any]) -> list[Any]:
        """Queue items that share `key` (the model); returns their results in order."""
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.worker = asyncio.create_task(self._loop())
        loop = asyncio.get_running_loop()
        pending = [_Pending(key, item, loop.create_future()) for item in items]
        for p in pending:
            self.queue.put_nowait(p)
        return list(await asyncio.gather(*(p.future for p in pending)))

    async def _loop(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_batch_size:
                try:  # everything that queued while the last batch ran joins this one
                    batch.append(self.queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), remaining))
                except TimeoutError:
                    break
            await self._run(batch)

    async def _run(self, batch: list[_Pending]) -> None:
        groups: dict[int, list[_Pending]] = {}
        for p in batch:  # a reload mid-batch: each model runs its own requests
            groups.setdefault(id(p.key), []).append(p)
        for group in groups.values():
            self.batch_sizes.append(len(group))
            del self.batch_sizes[:-KEEP]
            try:
                results = await asyncio.to_thread(self.run, group[0].key,
                                                  [p.item for p in group])
            except Exception as err:  # noqa: BLE001 - handed to each waiting request
                for p in group:
                    if not p.future.done():
                        p.future.set_exception(err)
                continue
            for p, result in zip(group, results, strict=True):
                if not p.future.done():
                    p.future.set_result(result)

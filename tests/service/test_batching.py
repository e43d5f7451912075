"""The micro-batcher: shared forward passes under load, order kept, errors handed back."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.batching import MicroBatcher


def doubling(key, items):
    time.sleep(0.02)  # a forward pass long enough for requests to pile up
    return [key * x for x in items]


def test_concurrent_requests_share_batches_and_keep_order():
    batcher = MicroBatcher(doubling, max_batch_size=16, max_wait_ms=0)

    async def many():
        return await asyncio.gather(*(batcher.submit(2, [i, i + 100]) for i in range(40)))

    results = asyncio.run(many())
    assert results == [[2 * i, 2 * (i + 100)] for i in range(40)]
    assert max(batcher.batch_sizes) > 1 and max(batcher.batch_sizes) <= 16
    assert sum(batcher.batch_sizes) == 80


def test_lone_request_is_not_delayed():
    batcher = MicroBatcher(lambda key, items: list(items), max_batch_size=8, max_wait_ms=0)

    async def one():
        start = time.perf_counter()
        await batcher.submit(None, [1])
        return time.perf_counter() - start

    assert asyncio.run(one()) < 0.5
    assert batcher.batch_sizes == [1]


def test_different_models_never_share_a_forward_pass():
    calls = []

    def record(key, items):
        calls.append((key, list(items)))
        return list(items)

    batcher = MicroBatcher(record, max_batch_size=8, max_wait_ms=20)

    async def mixed():
        return await asyncio.gather(batcher.submit("old", [1]), batcher.submit("new", [2]))

    assert asyncio.run(mixed()) == [[1], [2]]
    assert sorted(calls) == [("new", [2]), ("old", [1])]


def test_errors_reach_every_waiting_request():
    def broken(key, items):
        raise RuntimeError("forward failed")

    batcher = MicroBatcher(broken, max_batch_size=8, max_wait_ms=0)

    async def run():
        await batcher.submit(None, [1, 2])

    with pytest.raises(RuntimeError, match="forward failed"):
        asyncio.run(run())

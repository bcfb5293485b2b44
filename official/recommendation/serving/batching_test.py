"""The batcher with a plain function as the model: who shares a call, in what order, errors."""

import asyncio
import concurrent.futures
import threading

import pytest

from official.recommendation.serving.batching import Batcher


class Recorder:
    """A model call that records its batches and can be held until released."""

    def __init__(self):
        self.batches, self.gate = [], threading.Event()
        self.gate.set()

    def __call__(self, payloads, k):
        self.gate.wait(10)
        self.batches.append((list(payloads), k))
        return [{"payload": p, "k": k} for p in payloads]


def _run(coroutine):
    return asyncio.run(coroutine)


def test_requests_in_one_window_share_a_call_and_each_gets_its_own_row():
    model = Recorder()

    async def go():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            batcher = Batcher(model, 0.05, 64, pool)
            return await asyncio.gather(*(batcher.submit(p, k) for p, k in
                                          [("a", 3), ("b", 5), ("c", 1)]))

    out = _run(go())
    assert model.batches == [(["a", "b", "c"], 5)]  # one call, the largest k
    assert [o["payload"] for o in out] == ["a", "b", "c"]


def test_max_batch_and_max_cost_split_batches_in_arrival_order():
    model = Recorder()

    async def go():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            batcher = Batcher(model, 0.05, 3, pool, cost=lambda ps: len(ps) * max(map(len, ps)),
                              max_cost=8)
            payloads = ["x", "yy", "z", "w", "vvvvvvvvvvvv", "u"]
            return await asyncio.gather(*(batcher.submit(p, 1) for p in payloads))

    out = _run(go())
    assert [o["payload"] for o in out] == ["x", "yy", "z", "w", "vvvvvvvvvvvv", "u"]
    # At most 3 a call, padded cost <= 8; a request over the cap alone runs alone.
    assert [b for b, _ in model.batches] == [["x", "yy", "z"], ["w"], ["vvvvvvvvvvvv"], ["u"]]


def test_requests_arriving_while_the_model_is_busy_all_go_in_its_next_call():
    model = Recorder()

    async def go():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            batcher = Batcher(model, 0.001, 64, pool)
            model.gate.clear()
            first = asyncio.ensure_future(batcher.submit("first", 1))
            await asyncio.sleep(0.05)  # its window closed: it holds the only thread
            rest = [asyncio.ensure_future(batcher.submit(p, 1)) for p in "abcde"]
            await asyncio.sleep(0.05)  # far beyond their window: they wait for the thread
            model.gate.set()
            return await asyncio.gather(first, *rest)

    _run(go())
    assert [b for b, _ in model.batches] == [["first"], list("abcde")]


def test_a_failing_call_fails_every_request_of_its_batch_and_the_next_batch_runs():
    calls = []

    def flaky(payloads, k):
        calls.append(list(payloads))
        if len(calls) == 1:
            raise RuntimeError("model broke")
        return list(payloads)

    async def go():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            batcher = Batcher(flaky, 0.02, 64, pool)
            failed = await asyncio.gather(batcher.submit(1, 1), batcher.submit(2, 1),
                                          return_exceptions=True)
            return failed, await batcher.submit(3, 1)

    failed, after = _run(go())
    assert [str(e) for e in failed] == ["model broke", "model broke"] and after == 3


def test_no_window_means_one_call_per_request_and_batch_sizes_are_reported():
    model, sizes = Recorder(), []

    async def go():
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            batcher = Batcher(model, 0.0, 64, pool, slots=2, on_batch=sizes.append)
            await asyncio.gather(*(batcher.submit(p, 1) for p in range(4)))

    _run(go())
    assert sorted(b[0][0] for b in model.batches) == [0, 1, 2, 3] and sizes == [1, 1, 1, 1]


@pytest.mark.parametrize("window", [0.0, 0.01])
def test_results_never_cross_between_requests(window):
    def echo(payloads, k):
        return [p * 10 for p in payloads]

    async def go():
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            batcher = Batcher(echo, window, 7, pool, slots=2)
            return await asyncio.gather(*(batcher.submit(p, 1) for p in range(100)))

    assert _run(go()) == [p * 10 for p in range(100)]

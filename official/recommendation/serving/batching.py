"""Request batching for the server: concurrent requests share one model call.

A request waits at most `window_s` for others to join it; a batch runs as
soon as `max_batch` requests (or `max_cost` of padded work) wait, or the
window closes, or, under load, the moment a model thread is free: while
every thread is busy, requests gather and the next free thread takes them
all at once (so batches grow with the load instead of queueing). No
TensorFlow here: `call` is whatever the server runs on its threads.
"""

import asyncio
from collections.abc import Callable, Sequence
from typing import Any


class Batcher:
    """Coalesces concurrent requests into calls of `call(payloads, k) -> [result per payload]`.

    Args:
      call: runs one batch (on `executor`): the payloads of the waiting
        requests and the largest k among them; returns one result per
        payload, in order.
      window_s: how long the first request of a batch waits for others (0:
        every request is its own call).
      max_batch: most requests in one call.
      executor: a `concurrent.futures` executor with `slots` threads.
      slots: model calls that may run at once (the executor's threads).
      cost: the work of a batch of payloads (e.g. rows x longest history);
        None: every batch costs its size.
      max_cost: a batch's cost stays within this (a single request always
        runs, even when it alone is over it).
      on_batch: called with each batch's size (metrics).
    """

    def __init__(self, call: Callable[[list, int], Sequence[Any]], window_s: float,
                 max_batch: int, executor, slots: int = 1,
                 cost: Callable[[list], float] | None = None, max_cost: float | None = None,
                 on_batch: Callable[[int], None] | None = None):
        self.call, self.window_s, self.max_batch = call, window_s, max_batch
        self.executor, self.slots = executor, slots
        self.cost, self.max_cost, self.on_batch = cost, max_cost, on_batch
        self.pending: list[tuple[Any, int, asyncio.Future]] = []
        self.timer = None
        self.busy = 0

    async def submit(self, payload, k: int):
        """This request's result of the (possibly shared) call."""
        loop = asyncio.get_running_loop()
        if self.window_s <= 0:
            return (await self._call([payload], k))[0]
        future = loop.create_future()
        self.pending.append((payload, k, future))
        if len(self.pending) >= self.max_batch or self._over_cost(self.pending):
            self._dispatch()
        elif self.timer is None:
            self.timer = loop.call_later(self.window_s, self._window_closed)
        return await future

    def _over_cost(self, entries) -> bool:
        return (self.cost is not None and self.max_cost is not None and len(entries) > 1
                and self.cost([p for p, _, _ in entries]) > self.max_cost)

    def _window_closed(self) -> None:
        self.timer = None
        self._dispatch()

    def _take(self) -> list:
        """The next batch: waiting requests in arrival order within max_batch and max_cost."""
        size = min(len(self.pending), self.max_batch)
        while size > 1 and self._over_cost(self.pending[:size]):
            size -= 1
        batch, self.pending = self.pending[:size], self.pending[size:]
        return batch

    def _dispatch(self) -> None:
        """Starts batches while threads are free (a busy thread dispatches when it is done)."""
        loop = asyncio.get_running_loop()
        while self.pending and self.busy < self.slots:
            batch = self._take()
            self.busy += 1
            loop.create_task(self._run(batch))
        if not self.pending and self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def _call(self, payloads: list, k: int):
        if self.on_batch is not None:
            self.on_batch(len(payloads))
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.call,
                                                                payloads, k)

    async def _run(self, batch) -> None:
        try:
            results = await self._call([p for p, _, _ in batch], max(k for _, k, _ in batch))
        except Exception as e:  # noqa: BLE001 - handed to every waiting request
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(e)
        else:
            for (_, _, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self.busy -= 1
            if self.pending:
                self._dispatch()  # they waited while every thread was busy

"""The store's writer: one thread that runs every store write of a run, committing what queued up together.

A run stores each sample in one transaction as soon as it is graded, and each response in the response cache as it
arrives. Committed one by one, every commit rewrites the same few B-tree pages (the tails of ``attempts``,
``grades`` and their indexes) into the write-ahead log; the writer instead takes every job waiting when it is free,
runs each in its own savepoint (a job that fails is rolled back alone) inside one transaction, commits once, and
only then says the jobs are done. A killed process still keeps whole samples only, and never loses one it has
reported stored.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from ._store import Store

#: Most jobs in one transaction: bounds how long the first of them waits for its commit.
MAX_BATCH = 256


class _Job:
    __slots__ = ("fn", "args", "kwargs", "future", "loop", "result", "error")

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, future: Any,
                 loop: asyncio.AbstractEventLoop | None) -> None:
        self.fn, self.args, self.kwargs, self.future, self.loop = fn, args, kwargs, future, loop
        self.result: Any = None
        self.error: BaseException | None = None


class StoreWriter(Executor):
    """Runs callables on ``store`` in one thread, group-committed (see the module docstring).

    Use `run` from the event loop (one wake-up of the loop per committed batch, not per job), or `submit` like any
    executor (``loop.run_in_executor(writer, ...)``).

    Args:
        store: the store every job writes to; only this thread uses it while the writer runs.
        max_batch: most jobs committed together.
    """

    def __init__(self, store: Store, *, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: collections.deque[_Job | None] = collections.deque()
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="mathgauge-store", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        self._put(_Job(fn, args, kwargs, future, None))
        return future

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the writer; returns once its batch is committed."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put(_Job(fn, args, kwargs, future, loop))
        return await future

    def _put(self, job: _Job | None) -> None:
        with self._ready:
            if self._closed and job is not None:
                raise RuntimeError("the store writer is shut down")
            self._queue.append(job)
            self._ready.notify()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._ready:
            if self._closed:
                return
            self._closed = True
            if cancel_futures:
                pending = [j for j in self._queue if j is not None]
                self._queue.clear()
                for job in pending:
                    self._cancel(job)
            self._queue.append(None)
            self._ready.notify()
        if wait:
            self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._ready:
                while not self._queue:
                    self._ready.wait()
                batch: list[_Job] = []
                stop = False
                while self._queue and len(batch) < self.max_batch:
                    job = self._queue.popleft()
                    if job is None:
                        stop = True
                        break
                    batch.append(job)
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Job]) -> None:
        store = self.store
        try:
            with store.batch():
                for job in batch:
                    try:
                        with store.savepoint():
                            job.result = job.fn(*job.args, **job.kwargs)
                    except BaseException as exc:  # noqa: BLE001 -- handed to the job's caller
                        job.error = exc
        except BaseException as exc:  # noqa: BLE001 -- the commit failed: nothing of the batch is stored
            for job in batch:
                job.error = job.error or exc
        self._settle(batch)

    def _settle(self, batch: list[_Job]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        for job in batch:
            if job.loop is None:
                if job.future.set_running_or_notify_cancel():
                    if job.error is None:
                        job.future.set_result(job.result)
                    else:
                        job.future.set_exception(job.error)
            else:
                by_loop.setdefault(job.loop, []).append(job)
        for loop, jobs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, jobs)
            except RuntimeError:  # the loop is closed: nobody waits for these any more
                pass

    @staticmethod
    def _cancel(job: _Job) -> None:
        if job.loop is None:
            job.future.cancel()
        else:
            try:
                job.loop.call_soon_threadsafe(job.future.cancel)
            except RuntimeError:
                pass


def _resolve(jobs: list[_Job]) -> None:
    """On the event loop: settle the futures of a committed batch."""
    for job in jobs:
        if job.future.done():  # its caller was cancelled meanwhile
            continue
        if job.error is None:
            job.future.set_result(job.result)
        else:
            job.future.set_exception(job.error)

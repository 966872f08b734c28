"""What keeps one run session honest while it works: Ctrl-C and SIGTERM stop it at once, its lease in the store is
renewed (so no second process works on the run), and every reason to stop part-way becomes one clear error."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from ..errors import EndpointError, RunInterrupted, RunStopped, StoreError
from ..models import EndpointDown
from ..store import LEASE_HEARTBEAT_S, Lease, RunRecord, Store, write_failure

#: Called with the reason to stop (a signal name, or the exception that stops the run).
OnStop = Callable[[BaseException], None]
#: Whether the run owns the process (`evaluate` and `resume` run their own event loop, as the CLI does): then a
#: second signal ends the process; under a caller's own loop (`aevaluate`) it abandons the run's closing instead.
OWNS_PROCESS: contextvars.ContextVar[bool] = contextvars.ContextVar("mathgauge_owns_process", default=False)


class SignalStop(Exception):
    """The stop reason a signal gives (turned into `RunInterrupted` with the run's counts)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


@contextlib.contextmanager
def stop_on_signals(run_name: str, on_stop: OnStop) -> Iterator[None]:
    """While the block runs, the first Ctrl-C (SIGINT) or SIGTERM calls ``on_stop`` (the run stops dispatching
    and cancels its requests in flight); a second one ends the process at once with exit 130 when the run owns the
    process (`OWNS_PROCESS`), else cancels the task running the block (its closing is abandoned). Only where
    signals can be handled: the main thread of a running event loop (elsewhere the block runs unchanged).

    Args:
        run_name: named in the message a second signal prints.
        on_stop: stops the run.
    """
    loop = asyncio.get_running_loop()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[str] = []
    owns_process = OWNS_PROCESS.get()
    task = asyncio.current_task()

    def handle(name: str) -> None:
        if not received:
            received.append(name)
            on_stop(SignalStop(name))
            return
        if not owns_process:
            if task is not None:
                task.cancel()
            return
        # Everything committed is safe in SQLite; the samples in flight were never stored.
        os.write(2, (f"\ninterrupted again ({name}): stopped at once; everything finished is stored; "
                     f"`mathgauge resume {run_name}` continues\n").encode())
        os._exit(RunInterrupted.exit_code)

    installed: list[tuple[signal.Signals, Any]] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        try:
            loop.add_signal_handler(sig, handle, sig.name)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append((sig, previous))
    try:
        yield
    finally:
        for sig, previous in installed:
            try:
                loop.remove_signal_handler(sig)
                if previous is not None:
                    signal.signal(sig, previous)
            except (NotImplementedError, RuntimeError, ValueError, TypeError):
                pass


async def keep_lease(store: Store, writer: Executor, run: RunRecord, lease: Lease, on_stop: OnStop,
                     interval_s: float = LEASE_HEARTBEAT_S) -> None:
    """Renew the run's lease every ``interval_s`` through the store stage's thread until cancelled; when it cannot
    (the store fails, or another process took the lease over as stale) the run is stopped."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval_s)
        try:
            ours = await loop.run_in_executor(writer, store.renew_lease, run.run_id, lease)
        except sqlite3.Error as exc:
            on_stop(exc)
            return
        if not ours:
            on_stop(StoreError(f"run {run.name} was taken over by another process while this one did not renew "
                               f"its lease (frozen or suspended for over a minute); this process stops"))
            return


def stop_error(reason: BaseException, run: RunRecord, store_path: str, done: int, total: int) -> BaseException:
    """The error a run that stopped part-way raises, from why it stopped and how far it got.

    Args:
        reason: a `SignalStop`, an `EndpointDown`, another endpoint error, a store failure (``sqlite3.Error`` or
            `StoreError`), or any other exception (returned as it is).
        run: the run.
        store_path: the store, named in store failures.
        done: samples finished (done or failed) when it stopped.
        total: samples in the run.
    """
    resume = f"`mathgauge resume {run.name}` continues"
    if isinstance(reason, SignalStop):
        return RunInterrupted(run.name, reason.signal_name, done, total)
    if isinstance(reason, EndpointDown):
        if reason.kind == "rate_limited":
            return RunStopped(f"the endpoint kept rate-limiting, given up after {done} of {total} samples "
                              f"({reason}); {resume} once the limit lifts", run_name=run.name)
        return RunStopped(f"endpoint stopped answering after {done} of {total} samples ({reason}); {resume}",
                          run_name=run.name)
    if isinstance(reason, EndpointError):  # a key revoked or a model gone mid-run: the user must fix it first
        return EndpointError(f"{reason}; stopped after {done} of {total} samples; {resume} once that is fixed")
    if isinstance(reason, sqlite3.Error):
        cause = write_failure(Path(store_path), reason)
        return RunStopped(f"{store_path}: cannot write the results store ({cause}); stopped after {done} of "
                          f"{total} samples, everything stored is kept; {resume}", run_name=run.name)
    if isinstance(reason, StoreError) and not isinstance(reason, EndpointError):
        return RunStopped(f"{reason}; stopped after {done} of {total} samples; {resume}", run_name=run.name)
    return reason

"""The pipeline: plan problems -> solve -> grade -> store -> summarise.

Each sample flows through the stages on its own: solved (its calls made; each response also lands in the response
cache), graded, then stored whole in one transaction (calls, code executions, the texts graded, grades, status).
A killed run loses at most the samples in flight, which a resumed run solves again, their calls answered by the
cache; everything stored is final. One process works on a run at a time (it holds the run's lease in the store),
and anything that stops a run part-way (a signal, the endpoint, the store) stops it at once, the samples in
flight left pending.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    EXIT_OK,
    EXIT_SAMPLES_FAILED,
    ConfigError,
    EndpointError,
    MathgaugeError,
    RunStopped,
    StoreError,
)
from ..models import CachedBackend, EndpointDown, ModelBackend, RegeneratingBackend, RegenerationPolicy
from ..solve import Attempt, Solver
from ..store import Lease, RunRecord, Store, StoreWriter, write_failure
from ._grade import GradeTask, GradingStage, scored_grader
from ._plan import create_run, open_run, plan_run
from ._session import OWNS_PROCESS, SignalStop, keep_lease, stop_error, stop_on_signals
from ._solve import CODE_MODES, make_backend, make_judge, make_solver, open_sandbox
from ._spec import RunSpec

if TYPE_CHECKING:
    from ..report import RunSummary

#: Called after every finished sample with (done, total, correct so far, graded so far).
ProgressCallback = Callable[[int, int, int, int], None]
Notify = Callable[[str], None]


@dataclass
class EvalResult:
    """What `evaluate` returns: the stored run, its summary, notes for the user and the exit code."""

    run: RunRecord
    summary: RunSummary
    notes: list[str]

    @property
    def exit_code(self) -> int:
        return EXIT_SAMPLES_FAILED if self.summary.failed else EXIT_OK


def evaluate(spec: RunSpec, *, progress: ProgressCallback | None = None, notify: Notify | None = None) -> EvalResult:
    """Run (or resume) an evaluation and return its result. See `RunSpec` for the settings.

    Raises:
        MathgaugeError: a user mistake (bad data file, endpoint unusable, settings differ on resume, another process
            working on the run, ...), with nothing already stored lost.
        RunStopped: the run stopped part-way (the endpoint stopped answering, a rate-limit storm did not end, the
            store could not be written); everything stored is kept and `resume` continues.
        RunInterrupted: Ctrl-C or SIGTERM stopped the run (a `KeyboardInterrupt`).
    """
    owning = OWNS_PROCESS.set(True)  # its own event loop: a second Ctrl-C may end the process
    try:
        return asyncio.run(aevaluate(spec, progress=progress, notify=notify))
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        OWNS_PROCESS.reset(owning)


def resume(run_ref: str, *, store: str = RunSpec.store, concurrency: int | None = None, use_cache: bool = True,
           progress: ProgressCallback | None = None, notify: Notify | None = None) -> EvalResult:
    """Continue a stored run from its own stored spec and prompts; the dataset is not needed again.

    Args:
        run_ref: run id, name or unique id prefix.
        store: the SQLite results file (it must exist: a missing one is an error, never created).
        concurrency: requests in flight (default: the run's).
        use_cache: answer repeated requests from the response cache.

    Raises:
        As `evaluate`; `mathgauge.errors.RunBusy` when another process is working on the run.
    """
    lease = Lease.for_this_process()
    with Store(store, must_exist=True) as db:
        run = db.get_run(run_ref)
        spec = RunSpec.from_stored(run.config, model=run.model, benchmark=run.benchmark)
        if spec.mode == "rescore":
            raise ConfigError(f"run {run.name!r} was imported by `mathgauge rescore`: it made no model calls to resume")
        spec = dataclasses.replace(spec, store=store, run_name=run.name, resume=True, use_cache=use_cache,
                                   concurrency=concurrency or spec.concurrency)
        spec.check()
        db.acquire_lease(run, lease)
    try:
        backend = make_backend(spec)
    except BaseException:
        _release_lease(spec.store, run, lease)
        raise
    owning = OWNS_PROCESS.set(True)
    try:
        return asyncio.run(_execute(spec, run, backend, lease=lease, created=False, progress=progress,
                                    notify=notify or (lambda _: None), notes=[]))
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        OWNS_PROCESS.reset(owning)


async def aevaluate(spec: RunSpec, *, progress: ProgressCallback | None = None,
                    notify: Notify | None = None) -> EvalResult:
    """The async form of `evaluate`, for callers that already run an event loop."""
    say = notify or (lambda _: None)
    plan = plan_run(spec)
    spec = plan.spec
    backend = make_backend(spec)
    lease = Lease.for_this_process()
    sandbox = None
    store: Store | None = None
    try:
        store = Store(spec.store)
        if spec.mode in CODE_MODES:  # a missing isolation layer stops the run before anything is stored
            sandbox = await open_sandbox(spec)
        run, resuming = open_run(plan, store, lease)
        if resuming:
            say(f"resuming run {run.name} ({run.run_id})")
        else:
            plan.notes.extend(await backend.check())  # fail on a bad endpoint before anything is stored
            run, resuming = create_run(plan, store, lease, spec.model_name or backend.model)
            if resuming:  # another process created it meanwhile, with the same settings, and is done with it
                say(f"resuming run {run.name} ({run.run_id})")
    except BaseException as exc:
        await backend.aclose()
        if sandbox is not None:
            sandbox.close()
        if store is not None:
            store.close()
        if isinstance(exc, sqlite3.Error):  # e.g. the disk filled while the run's samples were stored
            raise StoreError(f"{spec.store}: cannot write the results store "
                             f"({write_failure(Path(spec.store), exc)})") from None
        raise
    for note in plan.notes:
        say(note)
    return await _execute(spec, run, backend, sandbox, lease=lease, created=not resuming, progress=progress,
                          notify=say, notes=plan.notes, store=store)


def _warm_up(grading: GradingStage) -> None:
    """What a run needs only once answers come back (the grader, the summary and its rendering), loaded while
    the first requests are out instead of before they leave (~40 ms of a run's start on 2 cores)."""
    grading.grader  # noqa: B018 -- made now, off the event loop
    import io

    import mathgauge.report.analysis  # noqa: F401
    import mathgauge.report.terminal  # noqa: F401
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # rich imports its renderers on the first print (~30 ms): print once, to nowhere.
    Console(file=io.StringIO(), width=80).print(Table("x"), escape("[x]"))


async def _execute(spec: RunSpec, run: RunRecord, backend: ModelBackend, sandbox: Any = None, *, lease: Lease,
                   created: bool, progress: ProgressCallback | None, notify: Notify,
                   notes: list[str], store: Store | None = None) -> EvalResult:
    """Solve, grade and store every unfinished sample of ``run`` while holding its ``lease``, then summarise it
    (``store``: already open; it is closed here).

    Ctrl-C or SIGTERM, an endpoint that stops answering, a fatal endpoint error or a store that cannot be written
    stop it at once: no new request, the samples in flight are cancelled and left pending, the run is marked
    (interrupted or failed) and the lease given back. A run this session ``created`` that stops before anything of
    it was stored (e.g. the first requests show the endpoint is not the API) is deleted rather than kept empty.
    """
    flow: _SampleFlow | None = None
    early: list[BaseException] = []

    def stop(reason: BaseException) -> None:
        if flow is not None:
            flow.stop(reason)
        elif not early:
            early.append(reason)

    writer: StoreWriter | None = None
    reader: Store | None = None
    grading: GradingStage | None = None
    heartbeat: asyncio.Future[None] | None = None
    started = time.monotonic()
    outcome: BaseException | None = None
    with stop_on_signals(run.name, stop):
        try:
            if sandbox is None and spec.mode in CODE_MODES:
                sandbox = await open_sandbox(spec)
            store = store or Store(spec.store)
            # The store stage: every store write during the run goes through this one thread, so SQLite commits
            # never stall the event loop; what queues up while it commits is committed together.
            writer = StoreWriter(store)
            # Cache reads on the loop, from a connection of their own: a request never waits behind queued writes.
            reader = Store(spec.store) if spec.use_cache else None
            if spec.regenerate:
                # Inside the cache: a cached response is the regenerated one, keyed with the policy the run stored.
                backend = RegeneratingBackend(backend, RegenerationPolicy(**run.config["regeneration"]))
            if reader is not None:
                backend = CachedBackend(backend, store, executor=writer, lookup=reader.get_response)
            judged = spec.grader != "rules"
            grading = GradingStage(spec.grader, judge=(lambda: make_judge(spec, store, writer)) if judged else None,
                                   problems=store.problem_texts(run.run_id) if judged else None)
            # Twice the request concurrency in samples: while some are graded or stored, others keep the endpoint
            # busy.
            flow = _SampleFlow(store, writer, run, make_solver(spec, backend, sandbox), grading, progress,
                               workers=2 * spec.concurrency * len(spec.base_urls()))
            if early:  # a signal before the flow existed
                flow.stop(early[0])
            store.mark_run_started(run.run_id)
            heartbeat = asyncio.ensure_future(keep_lease(store, writer, run, lease, stop))
            await flow.run_all()
        except BaseException as exc:  # noqa: BLE001 -- every way out is recorded below, then raised
            outcome = exc
        # Closing stays inside the signal handlers and off the event loop's thread (store calls run in the store
        # stage's thread): a store that blocks here (locked by another program) cannot hold off a second Ctrl-C.
        if heartbeat is not None:
            heartbeat.cancel()
        try:
            if grading is not None:
                await grading.aclose()
            if sandbox is not None:
                sandbox.close()
            await backend.aclose()
            done, total = (flow.done, flow.total) if flow is not None else (0, 0)
            error = None if outcome is None else stop_error(outcome, run, spec.store, done, total)
            if store is None or writer is None:  # the store could not even be opened
                await asyncio.to_thread(_release_lease, spec.store, run, lease)
                raise error if error is not None else StoreError(f"{spec.store}: cannot open the results store")
            close = functools.partial(_close_run, store, run, lease, outcome, error, created=created,
                                      started=started)
            try:
                # A job of the writer must not raise (its savepoint would be rolled back): it returns the error.
                error = await writer.run(close)
            except sqlite3.Error as exc:  # the closing commit failed (a full disk): what is stored stays
                error = error or stop_error(exc, run, spec.store, done, total)
            if error is not None:
                raise error
            result: EvalResult = await writer.run(_result, store, run, notes)
            return result
        finally:
            if writer is not None:
                await asyncio.to_thread(writer.shutdown, True)
            if reader is not None:
                reader.close()
            if store is not None:
                store.close()


def _close_run(store: Store, run: RunRecord, lease: Lease, outcome: BaseException | None,
               error: BaseException | None, *, created: bool, started: float) -> BaseException | None:
    """Mark how the session ended and give the lease back (a job of the store writer).

    Returns:
        The error the session ends with (``None`` when the run went through).
    """
    try:
        if isinstance(outcome, EndpointError) and created and _nothing_stored(store, run):
            # It never got going (the endpoint refused, or is not the API): no empty run is left behind.
            store.delete_run(run.run_id)
            return _not_kept(outcome)
        if outcome is None:
            statuses = store.sample_statuses(run.run_id)
            all_failed = statuses.get("failed", 0) > 0 and statuses.get("failed") == sum(statuses.values())
            status, message = ("failed", "every sample failed") if all_failed else ("finished", None)
        elif isinstance(outcome, EndpointError) and not isinstance(outcome, EndpointDown):
            status, message = "failed", str(outcome)  # the endpoint's own words, without the advice
        else:
            status, message = "interrupted", None if isinstance(outcome, SignalStop) else str(error)
        # A session whose lease was taken over had its time counted by the process that took it over.
        ours = store.release_lease(run.run_id, lease)
        store.mark_run_ended(run.run_id, status, wall_s=time.monotonic() - started if ours else 0.0, error=message)
    except sqlite3.Error:
        # The store cannot be written (a full disk): what is stored stays; readers see the run as interrupted once
        # this process is gone, as its lease is no longer renewed.
        if error is None:
            raise
    return error


def _result(store: Store, run: RunRecord, notes: list[str]) -> EvalResult:
    """The stored run and its summary, once it is closed."""
    from ..report import summarize_run  # imported late: it is not needed before the first request

    final = store.get_run(run.run_id)
    return EvalResult(run=final, summary=summarize_run(store, final), notes=notes)


def _not_kept(outcome: EndpointError) -> MathgaugeError:
    """The error of a new run deleted because its endpoint failed before anything was stored."""
    kept = "nothing was stored (the run was not kept)"
    if not isinstance(outcome, EndpointDown):
        return EndpointError(f"{outcome}; {kept}")
    if outcome.kind == "rate_limited":
        return RunStopped(f"the endpoint {outcome.endpoint} rate-limited every request ({outcome.reason}); {kept}")
    return RunStopped(f"the endpoint {outcome.endpoint} gave no usable reply ({outcome.reason}); check --base-url "
                      f"and --model; {kept}")


def _nothing_stored(store: Store, run: RunRecord) -> bool:
    statuses = store.sample_statuses(run.run_id)
    return set(statuses) <= {"pending"} and store.count_rows("attempts", run.run_id) == 0


def _release_lease(store_path: str, run: RunRecord, lease: Lease) -> None:
    """Give the lease back after a failure before the run started (quietly: the error that got us here counts)."""
    try:
        with Store(store_path) as db:
            db.release_lease(run.run_id, lease)
    except (StoreError, sqlite3.Error):
        pass


class _SampleFlow:
    """Takes every unfinished sample of a run through solve -> grade -> store, concurrently.

    Args:
        store: the results store (used from the ``writer`` thread only, once the flow runs).
        writer: the store stage's single thread.
        run: the run.
        solver: the solve stage.
        grading: the grade stage.
        progress: told after every finished sample.
        workers: samples in flight.
    """

    def __init__(self, store: Store, writer: StoreWriter, run: RunRecord, solver: Solver,
                 grading: GradingStage, progress: ProgressCallback | None, workers: int) -> None:
        self.store = store
        self.writer = writer
        self.run_id = run.run_id
        self.solver = solver
        self.grading = grading
        self.progress = progress
        self.workers = max(1, workers)
        self.gold = store.gold_answers(run.run_id)
        self.with_calls: set[tuple[str, int]] = set()
        self.done = self.correct = self.graded = self.total = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.stop_reason: BaseException | None = None

    def stop(self, reason: BaseException) -> None:
        """Stop at once: no sample starts after this, and the samples in flight are cancelled (their requests with
        them) and left pending. The first reason given is the one `run_all` raises."""
        if self.stop_reason is None:
            self.stop_reason = reason
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()

    async def run_all(self) -> None:
        """Take every unfinished sample through the stages.

        Raises:
            BaseException: the reason the flow was stopped (see `stop`).
        """
        if self.stop_reason is not None:
            raise self.stop_reason
        todo = self.store.unfinished_samples(self.run_id)
        self.with_calls = self.store.unfinished_with_calls(self.run_id)
        self.total, self.done, self.correct = self.store.sample_counts(self.run_id, scored_grader(self.grading.mode))
        self.graded = self.done
        self._report()
        if not todo:
            return
        # A fixed pool of workers rather than one task per sample: thousands of pending coroutines make every
        # garbage-collector pass slower, so CPU per sample would grow with the run's size.
        queue: collections.deque[tuple[str, int, list[dict[str, str]]]] = collections.deque(todo)

        async def worker() -> None:
            try:
                while queue and self.stop_reason is None:
                    await self._sample(*queue.popleft())
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                self.stop(exc)  # a failure that ends this worker ends the run: the others stop too
                raise

        self.tasks = [asyncio.ensure_future(worker()) for _ in range(min(len(todo), self.workers))]
        # Once the workers' first steps have run (the first requests are on their way), load the rest off the loop.
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.run_in_executor, None, _warm_up, self.grading)
        try:
            await asyncio.wait(self.tasks)
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.stop_reason is not None:
            raise self.stop_reason

    async def _store(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        await self.writer.run(fn, *args, **kwargs)

    async def _sample(self, problem_id: str, sample_index: int, messages: list[dict[str, str]]) -> None:
        """One sample through the stages. An unexpected error fails that sample (stored with its calls so far,
        reported, retried on resume), not the run; an unusable endpoint or store stops everything at once, and a
        cancelled sample (the run is stopping) is left pending, never stored as failed."""
        calls: list[Attempt] = []
        try:
            if (problem_id, sample_index) in self.with_calls:
                # Solved again from the start: the response cache makes the repeated calls free, and forgetting the
                # old ones keeps the store free of duplicates.
                await self._store(self.store.forget_calls, self.run_id, problem_id, sample_index)
            outcome = await self.solver.solve(problem_id, sample_index, messages, on_call=calls.append)
            if outcome.answer is None:
                await self._store(self.store.save_sample, self.run_id, problem_id, sample_index, outcome.calls,
                                  error=outcome.error)
                self._finished(None)
                return
            grades = await self.grading.grade(GradeTask(problem_id, sample_index, self.gold[problem_id],
                                                        outcome.answer, outcome.initial))
            graded = [outcome.answer] if outcome.initial is None else [outcome.initial, outcome.answer]
            await self._store(self.store.save_sample, self.run_id, problem_id, sample_index, outcome.calls,
                              graded=graded, grades=grades.records)
            self._finished(grades.correct)
        except asyncio.CancelledError:
            raise
        except (EndpointError, StoreError, sqlite3.Error) as exc:  # the run cannot go on: stop dispatching now
            self.stop(exc)
            raise
        except Exception as exc:  # a bug must cost one sample, never the samples already finished
            if self.stop_reason is not None:
                raise  # the run is stopping: whatever went wrong now is no fault of this sample
            try:
                await self._store(self.store.save_sample, self.run_id, problem_id, sample_index, calls,
                                  error=f"internal error: {type(exc).__name__}: {exc}")
            except sqlite3.Error as store_failure:
                self.stop(store_failure)
                raise store_failure from None
            self._finished(None)

    def _finished(self, correct: bool | None) -> None:
        self.done += 1
        if correct is not None:
            self.graded += 1
            self.correct += correct
        if self.progress is not None:
            self.progress(self.done, self.total, self.correct, self.graded)

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, self.correct, self.graded)

"""The pipeline: plan problems -> solve -> grade -> store -> summarise.

Each sample flows through the stages on its own: solved (its calls made; each response also lands in the response
cache), graded, then stored whole in one transaction (calls, code executions, the texts graded, grades, status).
A killed run loses at most the samples in flight, which a resumed run solves again, their calls answered by the
cache; everything stored is final.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import EXIT_OK, EXIT_SAMPLES_FAILED, ConfigError, EndpointError
from ..models import CachedBackend, ModelBackend, RegeneratingBackend, RegenerationPolicy
from ..solve import Attempt, Solver
from ..store import RunRecord, Store, StoreWriter
from ._grade import GradeTask, GradingStage, scored_grader
from ._plan import create_run, open_run, plan_run
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
        MathgaugeError: a user mistake (bad data file, endpoint unusable, settings differ on resume, ...), with
            nothing already stored lost.
    """
    try:
        return asyncio.run(aevaluate(spec, progress=progress, notify=notify))
    except asyncio.CancelledError:  # SIGTERM: the run is stored as interrupted, like Ctrl-C
        raise KeyboardInterrupt from None


def resume(run_ref: str, *, store: str = RunSpec.store, concurrency: int | None = None, use_cache: bool = True,
           progress: ProgressCallback | None = None, notify: Notify | None = None) -> EvalResult:
    """Continue a stored run from its own stored spec and prompts; the dataset is not needed again.

    Args:
        run_ref: run id, name or unique id prefix.
        store: the SQLite results file.
        concurrency: requests in flight (default: the run's).
        use_cache: answer repeated requests from the response cache.
    """
    with Store(store) as db:
        run = db.get_run(run_ref)
    spec = RunSpec.from_stored(run.config, model=run.model, benchmark=run.benchmark)
    if spec.mode == "rescore":
        raise ConfigError(f"run {run.name!r} was imported by `mathgauge rescore`: it made no model calls to resume")
    spec = dataclasses.replace(spec, store=store, run_name=run.name, resume=True, use_cache=use_cache,
                               concurrency=concurrency or spec.concurrency)
    try:
        return asyncio.run(_execute(spec, run, make_backend(spec), progress=progress,
                                    notify=notify or (lambda _: None), notes=[]))
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


async def aevaluate(spec: RunSpec, *, progress: ProgressCallback | None = None,
                    notify: Notify | None = None) -> EvalResult:
    """The async form of `evaluate`, for callers that already run an event loop."""
    say = notify or (lambda _: None)
    plan = plan_run(spec)
    spec = plan.spec
    backend = make_backend(spec)
    sandbox = None
    store = Store(spec.store)
    try:
        if spec.mode in CODE_MODES:  # a missing isolation layer stops the run before anything is stored
            sandbox = await open_sandbox(spec)
        run, resuming = open_run(plan, store)
        if resuming:
            say(f"resuming run {run.name} ({run.run_id})")
        else:
            plan.notes.extend(await backend.check())  # fail on a bad endpoint before anything is stored
            run = create_run(plan, store, spec.model_name or backend.model)
    except BaseException:
        await backend.aclose()
        if sandbox is not None:
            sandbox.close()
        store.close()
        raise
    for note in plan.notes:
        say(note)
    return await _execute(spec, run, backend, sandbox, progress=progress, notify=say, notes=plan.notes,
                          store=store)


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


async def _execute(spec: RunSpec, run: RunRecord, backend: ModelBackend, sandbox: Any = None, *,
                   progress: ProgressCallback | None, notify: Notify, notes: list[str],
                   store: Store | None = None) -> EvalResult:
    """Solve, grade and store every unfinished sample of ``run``, then summarise it (``store``: already open)."""
    if sandbox is None and spec.mode in CODE_MODES:
        try:
            sandbox = await open_sandbox(spec)
        except BaseException:
            await backend.aclose()
            if store is not None:
                store.close()
            raise
    store = store or Store(spec.store)
    # The store stage: every store write during the run goes through this one thread, so SQLite commits never
    # stall the event loop; what queues up while it commits is committed together.
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
    # Twice the request concurrency in samples: while some are graded or stored, others keep the endpoint busy.
    flow = _SampleFlow(store, writer, run, make_solver(spec, backend, sandbox), grading, progress,
                       workers=2 * spec.concurrency * len(spec.base_urls()))
    started = time.monotonic()
    store.mark_run_started(run.run_id)
    status, error = "interrupted", None
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    # SIGTERM ends the run like Ctrl-C: in-flight samples are dropped, everything finished is already committed.
    try:
        loop.add_signal_handler(signal.SIGTERM, current.cancel) if current else None
    except (NotImplementedError, RuntimeError):
        pass
    try:
        await flow.run_all()
        status = "finished"
    except EndpointError as exc:
        status, error = "failed", str(exc)
        raise
    finally:
        try:
            loop.remove_signal_handler(signal.SIGTERM)
        except (NotImplementedError, RuntimeError):
            pass
        await grading.aclose()
        writer.shutdown(wait=True)
        if reader is not None:
            reader.close()
        if sandbox is not None:
            sandbox.close()
        await backend.aclose()
        store.mark_run_ended(run.run_id, status, wall_s=time.monotonic() - started, error=error)
        from ..report import summarize_run  # imported late: it is not needed before the first request

        final = store.get_run(run.run_id)
        summary = summarize_run(store, final)
        store.close()
    return EvalResult(run=final, summary=summary, notes=notes)


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

    async def run_all(self) -> None:
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
            while queue:
                await self._sample(*queue.popleft())

        tasks = [asyncio.ensure_future(worker()) for _ in range(min(len(todo), self.workers))]
        # Once the workers' first steps have run (the first requests are on their way), load the rest off the loop.
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.run_in_executor, None, _warm_up, self.grading)
        try:
            finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in finished:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _store(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        await self.writer.run(fn, *args, **kwargs)

    async def _sample(self, problem_id: str, sample_index: int, messages: list[dict[str, str]]) -> None:
        """One sample through the stages. An unexpected error fails that sample (stored with its calls so far,
        reported, retried on resume), not the run; an unusable endpoint still stops everything."""
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
        except (EndpointError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug must cost one sample, never the samples already finished
            await self._store(self.store.save_sample, self.run_id, problem_id, sample_index, calls,
                              error=f"internal error: {type(exc).__name__}: {exc}")
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

"""Several benchmarks in one command: a thin layer above the single-run pipeline.

A spec naming several benchmarks (``aime24,math500,gsm8k``, or a suite such as ``qwen-math``) is split into one
spec per benchmark (`RunSpec.split`: that benchmark's prompt and answer format from the registry, its own
``per_benchmark`` settings over the common ones). Every benchmark's problems are loaded and checked, and every
stored run it would continue is checked against it, before any model call; then each benchmark runs as its own
stored run, named ``SUITE-BENCHMARK``, one after another, each with the run's whole ``--concurrency``. Each run
carries ``config["suite"]`` (the suite's name, benchmarks and spec), so ``mathgauge resume SUITE`` finds them,
creates those never started and continues the unfinished ones; finished runs are left as stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK, StoreError
from ..store import Store
from ._plan import RunPlan, create_run, open_run, plan_run
from ._run import EvalResult, Notify, resume
from ._solve import CODE_MODES, make_backend, open_sandbox
from ._spec import RunSpec

#: Called after every finished sample with (benchmark, done, total, correct so far, graded so far).
SuiteProgress = Callable[[str, int, int, int, int], None]


@dataclass
class SuiteResult:
    """What `evaluate_suite` returns: a result per benchmark (in the suite's order) and the benchmark x model table.

    Args:
        name: the suite's name; its runs are ``NAME-BENCHMARK``.
        results: the `EvalResult` of each benchmark.
        table: the benchmark x model table of those runs (`mathgauge.report.analysis.BenchmarkTable`).
        notes: what the user was told before the runs started.
    """

    name: str
    results: dict[str, EvalResult]
    table: Any
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The worst of the runs' exit codes (0 when every sample of every benchmark was graded)."""
        return max((r.exit_code for r in self.results.values()), default=EXIT_OK)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable summary (``--summary-json``): each run's summary and the table."""
        return {"suite": self.name, "benchmarks": list(self.results), "exit_code": self.exit_code,
                "runs": [r.summary.to_json() for r in self.results.values()], "table": self.table.to_json()}


@dataclass
class _Entry:
    """One benchmark of a suite: its run's name, and the plan that creates the run when it is not stored (``None``:
    the run is stored and continues from its own stored spec)."""

    benchmark: str
    run_name: str
    plan: RunPlan | None = None


def evaluate_suite(spec: RunSpec, *, progress: SuiteProgress | None = None,
                   notify: Notify | None = None) -> SuiteResult:
    """Run (or, with ``spec.resume``, continue) every benchmark ``spec`` names, each as its own stored run.

    Samples: ``spec.sampling.samples`` for every benchmark, unless ``per_benchmark`` gives a benchmark its own; a
    benchmark whose published figures need more samples (AIME, AMC: avg@k over k >= 16) gets a warning, and its
    cell in the table says so. The suite's name is ``spec.run_name`` (default: model-suite-timestamp).

    Raises:
        MathgaugeError: a bad setting, data file or benchmark, a run name already taken (without ``resume``), or a
            stored run whose settings differ, before any model call; later, an unusable endpoint (the benchmarks
            finished so far stay stored, ``mathgauge resume NAME`` continues).
    """
    say = notify or (lambda _: None)
    name = spec.run_name or _default_name(spec)
    specs = [dataclasses.replace(s, run_name=f"{name}-{s.benchmark}") for s in spec.split()]
    suite_doc = {"name": name, "benchmarks": [s.benchmark for s in specs],
                 "spec": dataclasses.replace(spec, run_name=name, resume=False).to_dict()}
    if Path(spec.store).is_file():  # names first: a cheap check, and no store file made for a refused run
        with Store(spec.store) as store:
            _check_name(store, name, spec.resume)
    plans = [plan_run(s) for s in specs]  # every benchmark's data and settings checked before anything is stored
    entries = []
    with Store(spec.store) as store:
        for plan in plans:
            open_run(plan, store)  # a taken name, or a stored run whose settings differ, stops here
            plan.config["suite"] = suite_doc
            entries.append(_Entry(plan.spec.benchmark_name, plan.spec.run_name or "", plan=plan))
    notes = _opening(name, spec, plans)
    for note in notes:
        say(note)
    return _run_all(name, entries, store=spec.store, concurrency=spec.concurrency, use_cache=spec.use_cache,
                    progress=progress, notify=say, notes=notes)


def resume_suite(name: str, *, store: str = RunSpec.store, concurrency: int | None = None, use_cache: bool = True,
                 progress: SuiteProgress | None = None, notify: Notify | None = None) -> SuiteResult:
    """Continue suite ``name``: its unfinished runs from their own stored specs and prompts (no dataset needed),
    the benchmarks it never started from the suite's stored spec; finished runs are left as stored.

    Args:
        name: the suite's name (its runs are ``NAME-BENCHMARK``).
        store: the SQLite results file.
        concurrency: requests in flight (default: the suite's).
        use_cache: answer repeated requests from the response cache.

    Raises:
        StoreError: no suite of that name in ``store``.
    """
    from ..report.analysis import SUITE_KEY, suite_runs

    say = notify or (lambda _: None)
    with Store(store, must_exist=True) as db:
        runs = suite_runs(db, name)
    if not runs:
        raise StoreError(f"no run {name!r} (nor a suite of that name) in {store}; `mathgauge runs` lists the "
                         f"stored runs")
    stored = RunSpec.from_dict(runs[-1].config[SUITE_KEY]["spec"], where=f"stored spec of suite {name!r}")
    spec = dataclasses.replace(stored, store=store, run_name=name, resume=True, use_cache=use_cache,
                               concurrency=concurrency or stored.concurrency)
    by_benchmark = {run.benchmark: run for run in runs}
    suite_doc = {**runs[-1].config[SUITE_KEY]}
    entries = []
    for bench_spec in spec.split():
        run = by_benchmark.pop(bench_spec.benchmark_name, None)
        if run is not None:
            entries.append(_Entry(run.benchmark, run.name))
            continue
        plan = plan_run(dataclasses.replace(bench_spec, run_name=f"{name}-{bench_spec.benchmark_name}"))
        plan.config["suite"] = suite_doc
        for note in plan.notes:
            say(note)
        entries.append(_Entry(bench_spec.benchmark_name, plan.spec.run_name or "", plan=plan))
    entries.extend(_Entry(run.benchmark, run.name) for run in by_benchmark.values())
    say(f"resuming suite {name}: {', '.join(e.benchmark for e in entries)}")
    return _run_all(name, entries, store=store, concurrency=spec.concurrency, use_cache=use_cache, progress=progress,
                    notify=say, notes=[])


def _run_all(name: str, entries: list[_Entry], *, store: str, concurrency: int, use_cache: bool,
             progress: SuiteProgress | None, notify: Notify, notes: list[str]) -> SuiteResult:
    """Create the runs not stored yet (after one endpoint check), then continue every unfinished one in order."""
    from ..report import summarize_run
    from ..report.analysis import benchmark_table

    results: dict[str, EvalResult] = {}
    model_name: str | None = None
    for index, entry in enumerate(entries, start=1):
        step = f"[{index}/{len(entries)}] {entry.benchmark}"
        try:
            with Store(store) as db:
                run = db.find_run(entry.run_name)
                if run is None:
                    assert entry.plan is not None, f"no plan for the missing run {entry.run_name}"
                    if model_name is None:  # once: a bad endpoint or a missing sandbox stops before anything is stored
                        notes_, model_name = _check_endpoint(entry.plan.spec)
                        for note in notes_:
                            notify(note)
                    run, _ = create_run(entry.plan, db, model_name=model_name)
                total, done, _ = db.sample_counts(run.run_id)
                finished = run.status == "finished" and done == total
                if finished:
                    results[entry.benchmark] = EvalResult(run=run, summary=summarize_run(db, run), notes=[])
            if finished:
                notify(f"{step}: run {run.name} finished before; kept as stored")
            else:
                notify(f"{step}: run {run.name} ({total - done} of {total} samples to do)")
                bound = None if progress is None else _bind(progress, entry.benchmark)
                results[entry.benchmark] = resume(run.name, store=store, concurrency=concurrency,
                                                  use_cache=use_cache, progress=bound, notify=notify)
        except BaseException:
            notify(f"suite {name} stopped at {entry.benchmark}: {len(results)} of {len(entries)} benchmark(s) "
                   f"done; `mathgauge resume {name}` continues the unfinished ones")
            raise
        notify(f"{step}: {_headline(results[entry.benchmark])}")
    table = benchmark_table([(r.run, r.summary) for r in results.values()])
    return SuiteResult(name=name, results=results, table=table, notes=notes)


def _bind(progress: SuiteProgress, benchmark: str) -> Callable[[int, int, int, int], None]:
    return lambda done, total, correct, graded: progress(benchmark, done, total, correct, graded)


def _headline(result: EvalResult) -> str:
    from ..report.analysis import cell_metric

    s = result.summary
    if s.accuracy is None:
        return f"{s.run_name}: nothing graded ({s.failed} failed)"
    lo, hi = s.ci95
    failed = f", {s.failed} failed" if s.failed else ""
    return (f"{s.run_name}: {cell_metric(s.samples_per_problem)} {100 * s.accuracy:.1f}% [{100 * lo:.1f}, "
            f"{100 * hi:.1f}] on {s.problems} problems{failed}")


def _check_endpoint(spec: RunSpec) -> tuple[list[str], str]:
    """The endpoint check and, for code modes, the sandbox check, as a single run makes them: the check's notes and
    the name the runs are stored under (``--model-name``, else the backend's name for the model)."""

    async def check() -> tuple[list[str], str]:
        if spec.mode in CODE_MODES:
            (await open_sandbox(spec)).close()
        backend = make_backend(spec)
        try:
            notes = await backend.check()
            return notes, spec.model_name or backend.model
        finally:
            await backend.aclose()

    return asyncio.run(check())


def _check_name(store: Store, name: str, resuming: bool) -> None:
    """A suite's name names nothing else (``mathgauge resume NAME`` must mean one thing), and a new suite no old one.

    Raises:
        StoreError: a run has that name; or, without ``resume``, a suite has it.
    """
    from ..report.analysis import suite_runs

    if store.find_run(name) is not None:
        raise StoreError(f"a run named {name!r} exists in {store.path}; a run of several benchmarks needs a name of "
                         f"its own (its runs are {name}-BENCHMARK): choose another --run-name")
    if not resuming and suite_runs(store, name):
        raise StoreError(f"a suite named {name!r} already exists in {store.path}; pass --resume to continue it or "
                         f"choose another --run-name")


def _opening(name: str, spec: RunSpec, plans: list[RunPlan]) -> list[str]:
    """What the user reads before the runs start: the benchmarks with their settings, the suites' protocols, and
    every benchmark's notes and sampling warnings."""
    from ..datasets import expand_benchmarks

    _, suites = expand_benchmarks(spec.benchmark)
    lines = [f"{len(plans)} benchmarks, each its own stored run ({name}-BENCHMARK), one after another:"]
    for plan in plans:
        s = plan.spec
        lines.append(f"  {s.benchmark}: {len(plan.problems)} problems x {s.sampling.samples} sample(s), template "
                     f"{plan.template.name}, answer format {s.answer_format}")
    for suite in suites:
        lines.append(f"suite {suite.name} follows {suite.title}: {suite.protocol}"
                     + (f"; for that protocol: {suite.advice()}" if suite.advice() else "")
                     + (f"; not in mathgauge: {', '.join(suite.left_out)}" if suite.left_out else ""))
    for plan in plans:
        lines.extend(f"{plan.spec.benchmark}: {note}" if not note.startswith("warning:") else note
                     for note in plan.notes)
    return lines


def _default_name(spec: RunSpec) -> str:
    """``MODEL-SUITE-TIMESTAMP-XXXX`` (``suite`` when the benchmarks were listed rather than named as one suite)."""
    from ..datasets import list_suites

    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", spec.model.split("/")[-1]).strip("-") or "model"
    label = spec.benchmark if isinstance(spec.benchmark, str) and spec.benchmark in {
        s.name for s in list_suites()} else "suite"
    return f"{slug}-{label}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"


def resolve_name(store: str, ref: str) -> str:
    """``run`` when ``ref`` names a stored run, ``suite`` when it names a suite (neither: `StoreError`)."""
    from ..report.analysis import suite_runs

    with Store(store, must_exist=True) as db:
        if db.find_run(ref) is not None:
            return "run"
        if suite_runs(db, ref):
            return "suite"
        raise StoreError(f"no run {ref!r} (nor a suite of that name) in {store}; `mathgauge runs` lists the "
                         f"stored runs")


"""The pipeline: benchmark -> problems -> solver -> attempts -> grader -> store -> summary.

Each sample is solved, stored, graded and stored again as soon as it can be, so a killed run loses at most the
calls in flight; a resumed run picks up exactly the samples that are not done.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
import json
import os
import platform
import re
import signal
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import __version__
from ._config import EvalConfig, config_differences
from .datasets import load_manifest, load_problems, save_manifest, select_problems
from .errors import EXIT_OK, EXIT_SAMPLES_FAILED, ConfigError, EndpointError, StoreError
from .models import CachedBackend, ModelBackend, OpenAICompatibleBackend, ReplicatedBackend, create_backend
from .prompts import load_template
from .solve import (
    MODES,
    Attempt,
    ChainOfThoughtSolver,
    ProgramOfThoughtSolver,
    SamplingConfig,
    SelfVerifyingSolver,
    Solver,
    ToolIntegratedSolver,
)
from .store import RunRecord, Store

if TYPE_CHECKING:
    from .report import RunSummary

#: Called after every finished sample with (done, total, correct so far, graded so far).
ProgressCallback = Callable[[int, int, int, int], None]


@dataclass
class EvalResult:
    """What `evaluate` returns: the stored run, its summary, notes for the user and the exit code."""

    run: RunRecord
    summary: RunSummary
    notes: list[str]

    @property
    def exit_code(self) -> int:
        return EXIT_SAMPLES_FAILED if self.summary.failed else EXIT_OK


def evaluate(config: EvalConfig, *, progress: ProgressCallback | None = None,
             notify: Callable[[str], None] | None = None) -> EvalResult:
    """Run (or resume) an evaluation and return its result. See `EvalConfig` for the options.

    Raises:
        MathgaugeError: a user mistake (bad data file, endpoint unusable, config differs on resume, ...),
            with nothing already stored lost.
    """
    try:
        return asyncio.run(aevaluate(config, progress=progress, notify=notify))
    except asyncio.CancelledError:  # SIGTERM: the run is stored as interrupted, like Ctrl-C
        raise KeyboardInterrupt from None


def resume(run_ref: str, *, store: str = "mathgauge.db", concurrency: int | None = None,
           use_cache: bool = True, progress: ProgressCallback | None = None,
           notify: Callable[[str], None] | None = None) -> EvalResult:
    """Continue a stored run from its own stored config and prompts; the dataset is not needed again."""
    with Store(store) as db:
        run = db.get_run(run_ref)
    if run.config.get("mode") == "rescore":
        raise ConfigError(f"run {run.name!r} was imported by `mathgauge rescore`: it made no model calls to resume")
    execution = run.config.get("execution", {})
    sampling = SamplingConfig(**run.config["sampling"])
    config = EvalConfig(
        model=run.config.get("model", run.model),  # what the backend was built from (a path, an alias)
        model_name=run.model,
        benchmark=run.benchmark,
        backend=run.config.get("backend", "openai"),
        backend_options=run.config.get("backend_options", {}),
        base_url=run.config["base_url"] or None,
        api_key_env=execution.get("api_key_env", "OPENAI_API_KEY"),
        sampling=sampling,
        mode=run.config.get("mode", "cot"),
        grader=run.config.get("grader", "rules"),
        regenerate=bool(run.config.get("regeneration")),
        unsafe_no_sandbox=not run.config.get("solver", {}).get("sandboxed", True),
        concurrency=concurrency or execution.get("concurrency", 32),
        store=store,
        run_name=run.name,
        resume=True,
        use_cache=use_cache,
        max_retries=execution.get("max_retries", 5),
        request_timeout_s=execution.get("request_timeout_s", 600.0),
    )
    try:
        return asyncio.run(_execute(config, run, _make_backend(config), progress=progress,
                                    notify=notify or (lambda _: None), notes=[]))
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


def _versions() -> dict[str, str]:
    return {"mathgauge": __version__, "python": platform.python_version(), "platform": platform.platform()}


def _default_run_name(model: str, benchmark: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model.split("/")[-1]).strip("-") or "model"
    # The random tail keeps two runs started in the same second apart.
    return f"{slug}-{benchmark}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"


def _problems_digest(problems: list[Any]) -> str:
    h = hashlib.sha256()
    for p in problems:
        h.update(json.dumps([p.id, p.problem, p.answer], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


async def aevaluate(config: EvalConfig, *, progress: ProgressCallback | None = None,
                    notify: Callable[[str], None] | None = None) -> EvalResult:
    """The async form of `evaluate`, for callers that already run an event loop."""
    say = notify or (lambda _: None)
    if config.mode not in MODES:
        raise ConfigError(f"unknown mode {config.mode!r}; expected one of {', '.join(MODES)}")
    if config.attempts < 1 or (config.max_rounds is not None and config.max_rounds < 0):
        raise ConfigError("--attempts must be at least 1 and --max-rounds at least 0")
    template = load_template(config.prompt_template or _DEFAULT_TEMPLATES[config.mode])
    answer_format = config.answer_format or template.answer_format
    _check_answer_format(answer_format)
    if config.sampling.samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {config.sampling.samples}")
    reserved = config.sampling.reserved_fields()
    if reserved:
        raise ConfigError(f"--extra-body cannot set {', '.join(reserved)}: use the option of that name "
                          f"(--temperature, --top-p, --max-tokens, --sampling-seed, --samples)")
    if config.concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {config.concurrency}")

    problems = load_problems(config.benchmark, data_file=config.data_file, hub_repo=config.hub_repo,
                             columns=config.columns or None)
    ids = load_manifest(config.manifest, config.benchmark) if config.manifest else None
    selection = select_problems(
        problems, subjects=config.subjects, levels=config.levels, per_cell=config.per_cell,
        seed=config.selection_seed, ids=ids, limit=config.limit,
    )
    notes = list(selection.notes)
    chosen = selection.problems
    if config.save_manifest:
        save_manifest(config.save_manifest, config.benchmark, chosen, {
            "subjects": config.subjects, "levels": config.levels, "per_cell": config.per_cell,
            "seed": config.selection_seed, "limit": config.limit, "manifest": config.manifest,
        })
        notes.append(f"wrote the {len(chosen)} chosen ids to {config.save_manifest}")

    run_config = {
        "benchmark": config.benchmark,
        "data_source": config.data_source(),
        "problems_sha256": _problems_digest(chosen),
        "problem_count": len(chosen),
        "backend": config.backend,
        "backend_options": config.backend_options,
        "model": config.model,
        "base_url": config.resolved_base_url(),
        "prompt_template": template.to_dict(),
        "sampling": config.sampling.to_dict(),
        "answer_format": answer_format,
        "grader": config.grader,
        "judge": _judge_settings(config),
        "mode": config.mode,
        "solver": _solver_settings(config),
        "regeneration": _regeneration_settings(config),
        "selection": {"subjects": config.subjects, "levels": config.levels, "per_cell": config.per_cell,
                      "seed": config.selection_seed, "limit": config.limit, "manifest": config.manifest},
        "execution": {"concurrency": config.concurrency, "api_key_env": config.api_key_env,
                      "max_retries": config.max_retries, "request_timeout_s": config.request_timeout_s},
    }

    backend = _make_backend(config)
    sandbox = None
    store = Store(config.store)
    try:
        if config.mode in _CODE_MODES:  # a missing isolation layer stops the run before anything is stored
            sandbox = await _open_sandbox(run_config["solver"])
        existing = store.find_run(config.run_name) if config.run_name else None
        if existing is not None and not config.resume:
            raise StoreError(f"a run named {config.run_name!r} already exists in {config.store}; "
                             f"pass --resume to continue it or choose another --run-name")
        if existing is not None:
            diffs = config_differences(existing.config, run_config)
            if diffs:
                raise StoreError(f"cannot resume run {existing.name!r}: its config differs: " + "; ".join(diffs))
            run = existing
            say(f"resuming run {run.name} ({run.run_id})")
        else:
            notes.extend(await backend.check())  # fail on a bad endpoint before anything is stored
            # Stored and reported under a name, never a file path: --model-name, else the backend's own name for
            # the model (llamacpp: the alias or the GGUF's general.name). The config keeps --model for resuming.
            model_name = config.model_name or backend.model
            run = store.create_run(name=config.run_name or _default_run_name(model_name, config.benchmark),
                                   benchmark=config.benchmark, model=model_name, config=run_config,
                                   versions=_versions())
            store.add_problems(run.run_id, chosen, [template.render(p.problem) for p in chosen],
                               config.sampling.samples)
    except BaseException:
        await backend.aclose()
        if sandbox is not None:
            sandbox.close()
        raise
    finally:
        store.close()
    for note in notes:
        say(note)
    return await _execute(config, run, backend, sandbox, progress=progress, notify=say, notes=notes)


_CODE_MODES = ("pot", "tir", "verify")
_DEFAULT_TEMPLATES = {"cot": "cot_boxed", "pot": "pot", "tir": "tir", "verify": "cot_boxed"}
_DEFAULT_ROUNDS = {"tir": 4, "verify": 2}


def _regeneration_settings(config: EvalConfig) -> dict[str, Any] | None:
    if not config.regenerate:
        return None
    from .solve import RegenerationPolicy

    # Stopping right after a code block only suits tool use, where the sandbox supplies the output.
    return RegenerationPolicy(stop_after_code_block=config.mode == "tir").describe()


def _judge_settings(config: EvalConfig) -> dict[str, Any] | None:
    if config.grader == "rules":
        return None
    from .grading.judge import GRADER_MODES, load_rubric

    if config.grader not in GRADER_MODES:
        raise ConfigError(f"unknown grader {config.grader!r}; expected one of {', '.join(GRADER_MODES)}")
    if not config.judge_model:
        raise ConfigError(f"--grader {config.grader} needs --judge-model: the model under test is never its own "
                          f"judge by default (pass --judge-model {config.model} to insist)")
    rubric = load_rubric(config.judge_rubric)  # a bad rubric raises ConfigError naming it
    return {
        "model": config.judge_model,
        "base_url": (config.judge_base_url or (config.base_urls()[0] if config.backend == "openai" else "")
                     ).rstrip("/"),
        "api_key_env": config.judge_api_key_env or config.api_key_env,
        "rubric": config.judge_rubric or "v1",
        "rubric_version": rubric.version,
    }


def _make_judge(settings: dict[str, Any], store: Store, db_pool: ThreadPoolExecutor, concurrency: int) -> Any:
    from .grading.judge import Judge

    backend = OpenAICompatibleBackend(settings["model"], base_url=settings["base_url"],
                                      api_key=os.environ.get(settings["api_key_env"]) or None,
                                      concurrency=concurrency)
    # Judge calls are cached like model calls: re-grading a stored run never pays twice.
    return Judge(CachedBackend(backend, store, executor=db_pool), rubric=settings["rubric"])


def _solver_settings(config: EvalConfig) -> dict[str, Any]:
    settings: dict[str, Any] = {"attempts": config.attempts}
    if config.mode in ("pot", "tir"):
        settings.update(exec_timeout_s=config.exec_timeout_s, exec_memory_mb=config.exec_memory_mb,
                        sandboxed=not config.unsafe_no_sandbox)
    if config.mode in _DEFAULT_ROUNDS:
        settings["max_rounds"] = _DEFAULT_ROUNDS[config.mode] if config.max_rounds is None else config.max_rounds
    return settings


def _check_answer_format(answer_format: str) -> None:
    from .grading import ANSWER_FORMATS

    if answer_format not in ANSWER_FORMATS:
        raise ConfigError(f"unknown answer format {answer_format!r}; expected one of {', '.join(ANSWER_FORMATS)}")


def _make_backend(config: EvalConfig) -> ModelBackend:
    if config.backend != "openai":
        return create_backend(config.backend, config.model, **config.backend_options)
    urls = config.base_urls()
    api_key = os.environ.get(config.api_key_env) or None
    if api_key is None and any("api.openai.com" in u for u in urls):
        raise EndpointError(
            f"no API key: set {config.api_key_env} (or name another variable with --api-key-env) "
            f"to call {urls[0]}, or point --base-url at a local server"
        )
    if len(urls) == 1:
        return OpenAICompatibleBackend(
            config.model, base_url=urls[0], api_key=api_key, concurrency=config.concurrency,
            max_retries=config.max_retries, request_timeout_s=config.request_timeout_s,
        )
    # Replicas: each client gives up quickly on a dead endpoint so the request moves to another one.
    return ReplicatedBackend([
        (url, OpenAICompatibleBackend(config.model, base_url=url, api_key=api_key, concurrency=config.concurrency,
                                      max_retries=1, request_timeout_s=config.request_timeout_s,
                                      backoff_base_s=0.2))
        for url in urls
    ])


async def _execute(config: EvalConfig, run: RunRecord, backend: ModelBackend, sandbox: Any = None, *,
                   progress: ProgressCallback | None, notify: Callable[[str], None], notes: list[str]) -> EvalResult:
    if sandbox is None and run.config.get("mode", "cot") in _CODE_MODES:
        try:
            sandbox = await _open_sandbox(run.config.get("solver", {}))
        except BaseException:
            await backend.aclose()
            raise
    store = Store(config.store)
    # All store access during the run goes through this one thread: SQLite commits never stall the loop.
    db_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mathgauge-store")
    if run.config.get("regeneration"):
        from .solve import RegeneratingBackend, RegenerationPolicy

        # Inside the cache: a cached response is the regenerated one, keyed with the policy in the run config.
        backend = RegeneratingBackend(backend, RegenerationPolicy(**run.config["regeneration"]))
    if config.use_cache:
        backend = CachedBackend(backend, store, executor=db_pool)
    judge = None
    if run.config.get("judge"):
        judge = _make_judge(run.config["judge"], store, db_pool, config.concurrency)
    # Twice the request concurrency in samples: while some wait for grading or the store, others keep the
    # endpoint busy.
    runner = _SampleRunner(store, run, backend, progress, db_pool, sandbox, judge,
                           workers=2 * config.concurrency * len(config.base_urls()))
    started = time.monotonic()
    store.mark_run_started(run.run_id)
    status, error = "interrupted", None
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    # SIGTERM ends the run like Ctrl-C: in-flight calls are dropped, everything finished is already committed.
    try:
        loop.add_signal_handler(signal.SIGTERM, current.cancel) if current else None
    except (NotImplementedError, RuntimeError):
        pass
    try:
        await runner.run_all()
        status = "finished"
    except EndpointError as exc:
        status, error = "failed", str(exc)
        raise
    finally:
        try:
            loop.remove_signal_handler(signal.SIGTERM)
        except (NotImplementedError, RuntimeError):
            pass
        runner.close()
        if judge is not None:
            await judge.backend.aclose()
        if sandbox is not None:
            sandbox.close()
        await backend.aclose()
        store.mark_run_ended(run.run_id, status, wall_s=time.monotonic() - started, error=error)
        from .report import summarize_run  # imported late: it is not needed before the first request

        final = store.get_run(run.run_id)
        summary = summarize_run(store, final)
        store.close()
    return EvalResult(run=final, summary=summary, notes=notes)


async def _open_sandbox(settings: dict[str, Any]) -> Any:
    """Start the sandbox and prove it runs code, so a missing isolation layer stops the run before any call."""
    from .sandbox import Sandbox, SandboxUnavailable

    sandbox = Sandbox(timeout_s=settings.get("exec_timeout_s", 10.0), memory_mb=settings.get("exec_memory_mb", 1024),
                      allow_unsafe_no_sandbox=not settings.get("sandboxed", True))
    try:
        probe = await sandbox.arun("print(6 * 7)")
    except SandboxUnavailable as exc:
        sandbox.close()
        raise ConfigError(str(exc)) from None
    if probe.status != "ok" or probe.stdout.strip() != "42":
        sandbox.close()
        raise ConfigError(f"the code sandbox does not work here: {probe.status}: {probe.stderr.strip()[-300:]}")
    return sandbox


def _make_solver(mode: str, settings: dict[str, Any], backend: ModelBackend, sampling: SamplingConfig,
                 sandbox: Any, has_answer: Callable[[str], bool]) -> Solver:
    tries = int(settings.get("attempts", 1))
    if mode == "cot":
        return ChainOfThoughtSolver(backend, sampling, tries=tries, has_answer=has_answer)
    program_options = {"tries": tries, "has_answer": has_answer,
                       "exec_timeout_s": settings.get("exec_timeout_s", 10.0),
                       "exec_memory_mb": settings.get("exec_memory_mb", 1024)}
    if mode == "pot":
        return ProgramOfThoughtSolver(backend, sampling, sandbox, **program_options)
    if mode == "verify":
        return SelfVerifyingSolver(backend, sampling, sandbox, max_rounds=int(settings.get("max_rounds", 2)),
                                   **program_options)
    return ToolIntegratedSolver(backend, sampling, sandbox, max_rounds=int(settings.get("max_rounds", 4)),
                                **program_options)


@dataclass(frozen=True)
class _JudgeVerdict:
    """A judge's (or a judge run's final) decision, in the shape the store keeps grades in."""

    correct: bool
    extracted: str | None
    method: str
    normalized: str | None = None

    @property
    def reason(self) -> str | None:
        return None if self.correct else "judged_incorrect"

    @property
    def status(self) -> str:
        return "correct" if self.correct else "incorrect"


class _SampleRunner:
    """Solves, stores and grades every unfinished sample of a run, concurrently."""

    def __init__(self, store: Store, run: RunRecord, backend: ModelBackend, progress: ProgressCallback | None,
                 db_pool: ThreadPoolExecutor, sandbox: Any = None, judge: Any = None, workers: int = 64) -> None:
        from .grading import Grader, extract_final_answer

        self.store = store
        self.run = run
        self.answer_format = run.config.get("answer_format", "boxed")
        self.grader = Grader(answer_format=self.answer_format)
        self.mode = run.config.get("mode", "cot")
        self.solver = _make_solver(self.mode, run.config.get("solver", {}), backend,
                                   SamplingConfig(**run.config["sampling"]), sandbox,
                                   lambda text: extract_final_answer(text, self.answer_format) is not None)
        # Grading is CPU work; a thread keeps the event loop free to send and receive requests meanwhile.
        self.grade_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mathgauge-grade")
        self.db_pool = db_pool
        self.previous: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.progress = progress
        self.gold = store.gold_answers(run.run_id)
        self.workers = max(1, workers)
        self.grader_mode = run.config.get("grader", "rules")
        self.judge = judge
        self.problem_texts = store.problem_texts(run.run_id) if judge is not None else {}
        self.done = self.correct = self.graded = 0
        self.total = 0

    async def run_all(self) -> None:
        todo = self.store.unfinished_samples(self.run.run_id)
        self.previous = self.store.attempts_of_unfinished(self.run.run_id)
        results = self.store.sample_results(self.run.run_id)
        self.total = len(results)
        done = [r for r in results if r.status == "done"]
        self.done = self.graded = len(done)
        self.correct = sum(r.correct for r in done)
        self._report()
        if not todo:
            return
        # A fixed pool of workers rather than one task per sample: thousands of pending coroutines make every
        # garbage-collector pass slower, so CPU per sample would grow with the run's size.
        queue: collections.deque[tuple[str, int, list[dict[str, str]]]] = collections.deque(todo)

        async def worker() -> None:
            while queue:
                await self._guarded(*queue.popleft())

        tasks = [asyncio.ensure_future(worker()) for _ in range(min(len(todo), self.workers))]
        try:
            finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in finished:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _in_thread(self, pool: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def _guarded(self, problem_id: str, sample_index: int, messages: list[dict[str, str]]) -> None:
        """Solve one sample; an unexpected error fails that sample (stored, reported, retried on resume), not the
        run. An unusable endpoint still stops everything."""
        try:
            await self._sample(problem_id, sample_index, messages)
        except (EndpointError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug must cost one sample, never the samples already finished
            reason = f"internal error: {type(exc).__name__}: {exc}"
            await self._in_thread(self.db_pool, self.store.mark_sample, self.run.run_id, problem_id, sample_index,
                                  "failed", reason)
            self.done += 1
            self._report()

    async def _sample(self, problem_id: str, sample_index: int, messages: list[dict[str, str]]) -> None:
        run_id = self.run.run_id
        previous = self.previous.get((problem_id, sample_index), [])
        last_ok = next((a for a in reversed(previous) if a["response"] is not None and a["error"] is None), None)
        if last_ok is not None and self.mode == "cot" and self.solver.tries == 1:
            # Killed after the call was stored but before its grade: grade the stored response, don't ask again.
            attempt_id, gradable = last_ok["attempt_id"], last_ok["response"]
        else:
            if previous:
                # A multi-call sample cut short is solved again from the start; the response cache makes the
                # repeated calls free, and forgetting the partial ones keeps the store free of duplicates.
                await self._in_thread(self.db_pool, self.store.forget_calls, run_id, problem_id, sample_index)
            ids: list[int] = []

            async def record(attempt: Attempt) -> int:
                ids.append(await self._in_thread(self.db_pool, self.store.add_attempt, run_id, attempt))
                return ids[-1]

            outcome = await self.solver.solve(problem_id, sample_index, messages, record)
            if outcome.error is not None:
                await self._in_thread(self.db_pool, self.store.mark_sample, run_id, problem_id, sample_index,
                                      "failed", outcome.error)
                self.done += 1
                self._report()
                return
            attempt_id, gradable = ids[-1], outcome.gradable or ""
            initial = getattr(self.solver, "initial_gradable", {}).pop((problem_id, sample_index), None)
            if initial is not None:
                # The answer before self-verification, graded too, so the report can say whether checking helped.
                first = await self._in_thread(self.grade_pool, self.grader.grade, initial, self.gold[problem_id])
                await self._in_thread(self.db_pool, self.store.add_grade, run_id, problem_id, sample_index, ids[0],
                                      first, "initial")
        verdict = await self._in_thread(self.grade_pool, self.grader.grade, gradable, self.gold[problem_id])
        scored_by_rules = self.grader_mode == "rules"
        await self._in_thread(self.db_pool, functools.partial(
            self.store.add_grade, run_id, problem_id, sample_index, attempt_id, verdict, "rules",
            marks_done=scored_by_rules))
        correct = verdict.correct
        if not scored_by_rules:
            correct = await self._judge(problem_id, sample_index, attempt_id, verdict, gradable)
        self.done += 1
        self.graded += 1
        self.correct += correct
        self._report()

    async def _judge(self, problem_id: str, sample_index: int, attempt_id: int, verdict: Any, text: str) -> bool:
        """Judge the response where the grading mode asks for it; store the judge's and the final grade."""
        from .grading.judge import final_correct, judge_needed

        run_id = self.run.run_id
        score = None
        if judge_needed(self.grader_mode, verdict.status):
            problem, answer, solution = self.problem_texts[problem_id]
            judged = await self.judge.score(problem, answer, solution, text)
            score = judged.score
            status = ("correct" if judged.correct else "incorrect") if judged.status == "ok" else judged.status
            await self._in_thread(self.db_pool, functools.partial(
                self.store.add_grade, run_id, problem_id, sample_index, attempt_id,
                _JudgeVerdict(judged.correct, verdict.extracted, judged.status), "judge", marks_done=False,
                status=status, score=score, detail=judged.to_dict()))
        correct = final_correct(self.grader_mode, verdict.status, score)
        final = _JudgeVerdict(correct, verdict.extracted, "final")
        await self._in_thread(self.db_pool, functools.partial(
            self.store.add_grade, run_id, problem_id, sample_index, attempt_id, final, "final", marks_done=True,
            status="correct" if correct else ("no_answer" if verdict.status == "no_answer" and score is None
                                              else "incorrect"),
            score=score))
        return correct

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, self.correct, self.graded)

    def close(self) -> None:
        self.grade_pool.shutdown(wait=True, cancel_futures=True)
        self.db_pool.shutdown(wait=True)
        self.grader.close()

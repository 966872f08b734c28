"""The solve stage's parts: the model and judge backends (one factory for both), the sandbox, the solver."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from ..errors import ConfigError
from ..models import CachedBackend, ModelBackend, ResponseCache, open_backend
from ..solve import (
    ChainOfThoughtSolver,
    ProgramOfThoughtSolver,
    SelfVerifyingSolver,
    Solver,
    ToolIntegratedSolver,
)
from ._spec import RunSpec

#: Modes whose solvers run model-written code in the sandbox.
CODE_MODES = ("pot", "tir", "verify")


def make_backend(spec: RunSpec) -> ModelBackend:
    """The model under test."""
    return open_backend(spec.backend, spec.model, base_urls=spec.base_urls(), api_key_env=spec.api_key_env,
                        concurrency=spec.concurrency, max_retries=spec.max_retries,
                        request_timeout_s=spec.request_timeout_s, options=spec.backend_options)


def make_judge(spec: RunSpec, cache: ResponseCache | None, executor: Executor | None = None) -> Any:
    """The judge of a ``judge`` or ``cascade`` run, made by the same factory as the model's backend (an in-process
    judge gets ``spec.judge_backend_options`` as the model gets ``spec.backend_options``), its calls cached like the
    model's (re-grading a stored run never pays twice)."""
    from ..grading.judge import Judge

    settings = spec.judge_settings()
    if settings is None:
        raise ConfigError("this run grades by the rules only: it has no judge")
    backend = open_backend(spec.judge_backend, settings["model"], base_urls=[settings["base_url"]],
                           api_key_env=settings["api_key_env"], concurrency=spec.concurrency,
                           max_retries=spec.max_retries, request_timeout_s=spec.request_timeout_s,
                           options=spec.judge_backend_options)
    if cache is not None:
        backend = CachedBackend(backend, cache, executor=executor)
    return Judge(backend, rubric=settings["rubric"])


async def open_sandbox(spec: RunSpec) -> Any:
    """Start the sandbox and prove it runs code, so a missing isolation layer stops the run before any call."""
    from ..sandbox import Sandbox, SandboxUnavailable

    sandbox = Sandbox(timeout_s=spec.exec_timeout_s, memory_mb=spec.exec_memory_mb,
                      allow_unsafe_no_sandbox=spec.unsafe_no_sandbox)
    try:
        probe = await sandbox.arun("print(6 * 7)")
    except SandboxUnavailable as exc:
        sandbox.close()
        raise ConfigError(str(exc)) from None
    if probe.status != "ok" or probe.stdout.strip() != "42":
        sandbox.close()
        raise ConfigError(f"the code sandbox does not work here: {probe.status}: {probe.stderr.strip()[-300:]}")
    return sandbox


def make_solver(spec: RunSpec, backend: ModelBackend, sandbox: Any) -> Solver:
    """The solver of ``spec.mode``; ``spec.answer_format`` must be resolved (it labels what is to be graded)."""
    assert spec.answer_format is not None, "resolve the answer format first (plan_run does)"
    common: dict[str, Any] = {"tries": spec.attempts, "answer_format": spec.answer_format}
    if spec.mode == "cot":
        return ChainOfThoughtSolver(backend, spec.sampling, **common)
    common.update(exec_timeout_s=spec.exec_timeout_s, exec_memory_mb=spec.exec_memory_mb)
    if spec.mode == "pot":
        return ProgramOfThoughtSolver(backend, spec.sampling, sandbox, **common)
    rounds = spec.rounds()
    if rounds is None:  # tir and verify always have rounds (the spec's, or the mode's default)
        raise AssertionError(f"mode {spec.mode!r} has no rounds")
    if spec.mode == "verify":
        return SelfVerifyingSolver(backend, spec.sampling, sandbox, max_rounds=rounds, **common)
    return ToolIntegratedSolver(backend, spec.sampling, sandbox, max_rounds=rounds, **common)

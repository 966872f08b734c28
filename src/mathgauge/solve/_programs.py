"""Solvers that run model-written Python in the sandbox: program-of-thought and tool-integrated reasoning."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..models import ModelBackend
from ._base import HasAnswer, Solver, TryResult
from ._code import last_code_block
from ._records import Attempt
from ._sampling import SamplingConfig

#: What the model is shown of a program's output (the full output is stored).
FEEDBACK_CHARS = 2000


class _CodeRunner:
    """Anything with ``async arun(code, timeout=, memory_mb=)`` returning a `mathgauge.sandbox.ExecutionResult`."""

    async def arun(self, code: str, *, timeout: float | None = None, memory_mb: int | None = None) -> Any: ...


class _ProgramSolver(Solver):
    def __init__(self, backend: ModelBackend, sampling: SamplingConfig, sandbox: _CodeRunner, *, tries: int = 1,
                 answer_format: str = "auto", has_answer: HasAnswer | None = None, exec_timeout_s: float = 10.0,
                 exec_memory_mb: int = 1024) -> None:
        super().__init__(backend, sampling, tries=tries, answer_format=answer_format, has_answer=has_answer)
        self.sandbox = sandbox
        self.exec_timeout_s = exec_timeout_s
        self.exec_memory_mb = exec_memory_mb

    async def execute(self, attempt: Attempt, code: str) -> Any:
        result = await self.sandbox.arun(code, timeout=self.exec_timeout_s, memory_mb=self.exec_memory_mb)
        attempt.executions.append({"code": code, **result.to_dict()})
        return result

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "exec_timeout_s": self.exec_timeout_s, "exec_memory_mb": self.exec_memory_mb}


class ProgramOfThoughtSolver(_ProgramSolver):
    """The model answers with a program; its last code block runs in the sandbox and what it prints last is
    the answer (graded with the ``program_output`` format). No program, or a program that fails, times out or
    is blocked, earns another try."""

    mode = "pot"

    async def _try(self, problem_id: str, sample_index: int, messages: list[dict[str, str]], try_index: int,
                   call_index: int, recorded: Callable[[Attempt], Awaitable[Attempt]]) -> TryResult:
        attempt = await self.call(problem_id, sample_index, call_index, messages, try_index=try_index)
        if not attempt.ok:
            await recorded(attempt)
            return TryResult(None, False, attempt.error)
        code = last_code_block(attempt.response or "")
        if code is None:
            await recorded(attempt)
            return TryResult(None, retry=True)
        result = await self.execute(attempt, code)
        await recorded(attempt)  # stored with its execution, in one transaction
        if result.status != "ok":
            return TryResult(result.stdout or None, retry=True)
        return TryResult(result.stdout, retry=not self.has_answer(result.stdout))


class ToolIntegratedSolver(_ProgramSolver):
    """Multi-turn: the model reasons and writes code blocks; generation stops at the output fence, the sandbox
    output is fed back, up to ``max_rounds`` code rounds; the final answer is expected in ``\\boxed{}``.

    Args:
        max_rounds: most code executions per try (default 4).
    """

    mode = "tir"
    stop = ["```output"]

    def __init__(self, *args: Any, max_rounds: int = 4, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_rounds = max_rounds

    async def _try(self, problem_id: str, sample_index: int, messages: list[dict[str, str]], try_index: int,
                   call_index: int, recorded: Callable[[Attempt], Awaitable[Attempt]]) -> TryResult:
        turns: list[str] = []
        for round_index in range(self.max_rounds + 1):
            attempt = await self.call(problem_id, sample_index, call_index + round_index, messages,
                                      try_index=try_index, round_index=round_index, stop=self.stop)
            if not attempt.ok:
                await recorded(attempt)
                return TryResult(None, False, attempt.error)
            text = attempt.response or ""
            turns.append(text)
            code = last_code_block(text)
            if self.has_answer(text) or code is None or round_index == self.max_rounds:
                await recorded(attempt)
                transcript = "\n".join(turns)
                return TryResult(transcript, retry=not self.has_answer(text))
            result = await self.execute(attempt, code)
            await recorded(attempt)
            messages = [*messages, {"role": "assistant", "content": text},
                        {"role": "user", "content": f"```output\n{_feedback(result)}\n```"}]
        raise AssertionError("unreachable: the last round always returns")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_rounds": self.max_rounds}


def _feedback(result: Any) -> str:
    """What the model sees of an execution: its output, and the error when it failed."""
    out: str = result.stdout[-FEEDBACK_CHARS:]
    if result.status == "ok":
        return out.rstrip() or "(no output)"
    if result.status == "timeout":
        tail = "Error: the code timed out"
    elif result.status == "memory":
        tail = "Error: the code ran out of memory"
    elif result.status == "blocked":
        tail = "Error: an operation was blocked by the sandbox"
    else:
        lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
        tail = lines[-1] if lines else f"Error: exit code {result.exit_code}"
    return (out.rstrip() + "\n" + tail).strip()

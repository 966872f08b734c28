"""Code-based self-verification: the model answers, checks its answer with code run in the sandbox, and revises
when the check fails, up to a number of rounds (the GPT-4 Code Interpreter self-verification recipe)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ._base import TryResult
from ._code import last_code_block
from ._programs import _feedback, _ProgramSolver
from ._records import Attempt, Gradable

VERIFY_INSTRUCTION = (
    "Now verify your final answer with Python code. Write one ```python code block that checks the answer "
    "against the conditions of the problem (do not just recompute it the same way) and prints VERIFIED if the "
    "check passes and FAILED otherwise."
)
REVISE_INSTRUCTION = (
    "The check did not confirm your answer. Find the mistake, solve the problem again, and put your corrected "
    "final answer within \\boxed{}."
)


def verification_passed(result: Any) -> bool:
    """A check passes only when it ran cleanly and printed VERIFIED without FAILED."""
    return result.status == "ok" and "VERIFIED" in result.stdout and "FAILED" not in result.stdout


class SelfVerifyingSolver(_ProgramSolver):
    """Answer, then up to ``max_rounds`` rounds of verify-with-code and, on a failed check, revise.

    Each call is recorded with its phase (``answer``, ``verify``, ``revise``); the answer before any revision comes
    back as `SolveOutcome.initial` so the pipeline grades it too and reports whether verification helped.

    Args:
        max_rounds: most verification rounds per try (default 2).
    """

    mode = "verify"

    def __init__(self, *args: Any, max_rounds: int = 2, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_rounds = max_rounds

    async def _try(self, problem_id: str, sample_index: int, messages: list[dict[str, str]], try_index: int,
                   call_index: int, recorded: Callable[[Attempt], Awaitable[Attempt]]) -> TryResult:
        calls = 0

        async def ask(phase: str, round_index: int) -> Attempt:
            nonlocal calls
            attempt = await self.call(problem_id, sample_index, call_index + calls, messages, try_index=try_index,
                                      round_index=round_index)
            attempt.extra["phase"] = phase
            calls += 1
            return attempt

        answer = await ask("answer", 0)
        if not answer.ok:
            await recorded(answer)
            return TryResult(None, False, answer.error)
        await recorded(answer)
        current = answer.response or ""
        if not self.has_answer(current):
            return TryResult(current, retry=True)
        initial = Gradable(current, self.answer_format, answer.attempt_index)
        messages = [*messages, {"role": "assistant", "content": current}]
        for round_index in range(1, self.max_rounds + 1):
            messages = [*messages, {"role": "user", "content": VERIFY_INSTRUCTION}]
            check = await ask("verify", round_index)
            if not check.ok:
                await recorded(check)
                return TryResult(None, False, check.error)
            code = last_code_block(check.response or "")
            if code is None:
                await recorded(check)
                break  # the model would not check: keep its answer
            result = await self.execute(check, code)
            await recorded(check)
            if verification_passed(result):
                break
            messages = [*messages, {"role": "assistant", "content": check.response or ""},
                        {"role": "user", "content": f"```output\n{_feedback(result)}\n```\n{REVISE_INSTRUCTION}"}]
            revision = await ask("revise", round_index)
            if not revision.ok:
                await recorded(revision)
                return TryResult(None, False, revision.error)
            await recorded(revision)
            if self.has_answer(revision.response or ""):
                current = revision.response or ""
            messages = [*messages, {"role": "assistant", "content": revision.response or ""}]
        return TryResult(current, retry=False, initial=initial)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_rounds": self.max_rounds}

"""Chain-of-thought: one chat call per try, the final answer expected in ``\\boxed{}``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ._base import Solver, TryResult
from ._records import Attempt


class ChainOfThoughtSolver(Solver):
    """Ask once per try; a try without an extractable answer earns another (up to ``tries``)."""

    mode = "cot"

    async def _try(self, problem_id: str, sample_index: int, messages: list[dict[str, str]], try_index: int,
                   call_index: int, recorded: Callable[[Attempt], Awaitable[Attempt]]) -> TryResult:
        attempt = await recorded(await self.call(problem_id, sample_index, call_index, messages,
                                                 try_index=try_index))
        if not attempt.ok:
            return TryResult(None, False, attempt.error)
        text = attempt.response or ""
        # The last try ends the sample whatever it holds: no need to look for an answer (the grader will).
        last = try_index + 1 >= self.tries
        return TryResult(text, retry=not last and not self.has_answer(text))

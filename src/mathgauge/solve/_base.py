"""What every solver shares: making one recorded model call, and retrying a sample that produced no answer."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..models import ChatRequest, ModelBackend, ModelCallError
from ._records import Attempt, SolveOutcome
from ._sampling import SamplingConfig

#: Stores a call as soon as it exists; returns its id.
RecordCall = Callable[[Attempt], Awaitable[int]]
#: True when a text holds an answer the grader can extract (the solver never sees the reference answer).
HasAnswer = Callable[[str], bool]


@dataclass
class TryResult:
    """The end of one try: the text to grade and whether the try failed in a way that earns another one."""

    gradable: str | None
    retry: bool
    error: str | None = None


class Solver(ABC):
    """Base class: subclasses implement `_try` (one try at a sample, possibly several calls).

    Args:
        backend: the model.
        sampling: sampling settings of the run.
        tries: most tries per sample; a new try is made only when the previous one produced no extractable
            answer or its code failed, timed out or was blocked, never because an answer was wrong.
        has_answer: whether a text holds an extractable answer.
    """

    mode = "base"

    def __init__(self, backend: ModelBackend, sampling: SamplingConfig, *, tries: int = 1,
                 has_answer: HasAnswer | None = None) -> None:
        if tries < 1:
            raise ValueError("tries must be at least 1")
        self.backend = backend
        self.sampling = sampling
        self.tries = tries
        self.has_answer = has_answer or (lambda text: bool(text.strip()))

    def build_request(self, messages: list[dict[str, str]], sample_index: int, try_index: int = 0,
                      stop: list[str] | None = None) -> ChatRequest:
        s = self.sampling
        seed = None if s.seed is None else s.seed + sample_index + 7919 * try_index
        return ChatRequest(
            messages=messages, temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
            # Distinct seeds per sample and try: one seed would make the k samples identical on seeded servers.
            seed=seed, stop=stop, sample_index=sample_index,
            extra_body=dict(s.extra_body), try_index=try_index,
        )

    async def call(self, problem_id: str, sample_index: int, call_index: int, messages: list[dict[str, str]],
                   *, try_index: int = 0, round_index: int = 0, stop: list[str] | None = None) -> Attempt:
        """Make one model call and describe it as an `Attempt` (a failure is recorded, not raised, except
        `FatalEndpointError`, which must stop the run)."""
        request = self.build_request(messages, sample_index, try_index, stop)
        attempt = Attempt(
            problem_id=problem_id, sample_index=sample_index, attempt_index=call_index, kind=self.mode,
            request=self.backend.request_body(request), started_at=time.time(),
            extra={"try": try_index, "round": round_index},
        )
        try:
            response = await self.backend.complete(request)
        except ModelCallError as exc:
            attempt.error = exc.reason
            attempt.retries = exc.retries
            return attempt
        attempt.response = response.text
        attempt.finish_reason = response.finish_reason
        attempt.prompt_tokens = response.prompt_tokens
        attempt.completion_tokens = response.completion_tokens
        attempt.latency_s = response.latency_s
        attempt.total_s = response.total_s
        attempt.retries = response.retries
        attempt.cached = response.cached
        attempt.reasoning = response.reasoning
        attempt.extra.update(getattr(response, "extra", None) or {})  # e.g. regeneration cuts
        return attempt

    async def solve(self, problem_id: str, sample_index: int, messages: list[dict[str, str]],
                    record: RecordCall, first_call_index: int = 0) -> SolveOutcome:
        """Solve one sample, recording every call through ``record`` as soon as it is made."""
        calls: list[Attempt] = []

        async def recorded(attempt: Attempt) -> Attempt:
            calls.append(attempt)
            await record(attempt)
            return attempt

        result = TryResult(None, True)
        tries = 0
        for try_index in range(self.tries):
            tries = try_index + 1
            result = await self._try(problem_id, sample_index, list(messages), try_index,
                                     first_call_index + len(calls), recorded)
            if result.error is not None or not result.retry:
                break
        return SolveOutcome(calls=calls, gradable=result.gradable, error=result.error, tries=tries)

    @abstractmethod
    async def _try(self, problem_id: str, sample_index: int, messages: list[dict[str, str]], try_index: int,
                   call_index: int, recorded: Callable[[Attempt], Awaitable[Attempt]]) -> TryResult:
        """One try at a sample: make (and record) its calls, say what to grade and whether to try again."""

    def describe(self) -> dict[str, Any]:
        """The solver settings stored in the run config (they decide results, so resume compares them)."""
        return {"mode": self.mode, "attempts": self.tries}

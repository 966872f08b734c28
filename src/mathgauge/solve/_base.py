"""What every solver shares: making one recorded model call, and retrying a sample that produced no answer."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..models import ChatRequest, ModelBackend, ModelCallError
from ._records import Attempt, Gradable, SolveOutcome
from ._sampling import SamplingConfig

#: Sees each call as soon as it is made (the pipeline keeps them for a sample that fails half-way).
OnCall = Callable[[Attempt], None]
#: True when a text holds an answer the grader can extract (the solver never sees the reference answer).
HasAnswer = Callable[[str], bool]


@dataclass
class TryResult:
    """The end of one try: the text to grade and whether the try failed in a way that earns another one.

    Args:
        gradable: the text to grade if this is the last try (``None``: nothing to grade, graded as empty).
        retry: the try gave no answer or its code failed: another try is earned.
        error: a call failed for good: the sample fails.
        initial: the answer before self-verification revised it (graded too, to measure the effect).
    """

    gradable: str | None
    retry: bool
    error: str | None = None
    initial: Gradable | None = None


class Solver(ABC):
    """Base class: subclasses implement `_try` (one try at a sample, possibly several calls).

    Args:
        backend: the model.
        sampling: sampling settings of the run.
        tries: most tries per sample; a new try is made only when the previous one produced no extractable
            answer or its code failed, timed out or was blocked, never because an answer was wrong.
        answer_format: how the graded text states its final answer; it labels every `Gradable` the solver returns.
        has_answer: whether a text holds an extractable answer (default: the grader can extract one in
            ``answer_format``).
    """

    mode = "base"

    def __init__(self, backend: ModelBackend, sampling: SamplingConfig, *, tries: int = 1,
                 answer_format: str = "auto", has_answer: HasAnswer | None = None) -> None:
        if tries < 1:
            raise ValueError("tries must be at least 1")
        self.backend = backend
        self.sampling = sampling
        self.tries = tries
        self.answer_format = answer_format
        if has_answer is None:

            def has_answer(text: str) -> bool:
                from ..grading import extract_final_answer  # on first use: not needed before the first response

                return extract_final_answer(text, answer_format) is not None

        self.has_answer = has_answer

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

    async def solve(self, problem_id: str, sample_index: int, messages: list[dict[str, str]], *,
                    on_call: OnCall | None = None) -> SolveOutcome:
        """Solve one sample.

        Args:
            problem_id, sample_index: which sample.
            messages: its prompt.
            on_call: sees every call as soon as it is made.

        Returns:
            Every call, and what to grade: the last try's text, tied to the sample's last call (so a stored grade
            points at the call that ended the sample).
        """
        calls: list[Attempt] = []

        async def recorded(attempt: Attempt) -> Attempt:
            calls.append(attempt)
            if on_call is not None:
                on_call(attempt)
            return attempt

        result = TryResult(None, True)
        tries = 0
        for try_index in range(self.tries):
            tries = try_index + 1
            result = await self._try(problem_id, sample_index, list(messages), try_index, len(calls), recorded)
            if result.error is not None or not result.retry:
                break
        if result.error is not None:
            return SolveOutcome(calls=calls, answer=None, error=result.error, tries=tries)
        answer = Gradable(result.gradable or "", self.answer_format, calls[-1].attempt_index)
        return SolveOutcome(calls=calls, answer=answer, error=None, tries=tries, initial=result.initial)

    @abstractmethod
    async def _try(self, problem_id: str, sample_index: int, messages: list[dict[str, str]], try_index: int,
                   call_index: int, recorded: Callable[[Attempt], Awaitable[Attempt]]) -> TryResult:
        """One try at a sample: make (and hand to ``recorded``) its calls, say what to grade and whether to try
        again."""

    def describe(self) -> dict[str, Any]:
        """The solver settings stored in the run config (they decide results, so resume compares them)."""
        return {"mode": self.mode, "attempts": self.tries}

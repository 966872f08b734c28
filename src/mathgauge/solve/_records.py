"""Records the solve stage hands to the grader and the store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Attempt:
    """One model call made while solving one sample of one problem.

    Later modes (program-of-thought, tool use, regeneration) add attempts of other ``kind``s; this shape stays.

    Args:
        problem_id, sample_index: which sample the call belongs to.
        attempt_index: 0 for the first call of the sample, then 1, 2, ...
        kind: what the call was for (``chat`` for chain-of-thought).
        request: the exact request body sent (model, messages, sampling settings).
        response: the response text, or ``None`` when the call failed.
        error: why the call failed (``None`` on success).
        extra: mode details (``try``: which try of the sample, ``round``: which tool-use round).
        executions: code the response contained and its sandbox results (``code`` plus the fields of
            `mathgauge.sandbox.ExecutionResult`), for program-of-thought and tool-integrated modes.
    """

    problem_id: str
    sample_index: int
    attempt_index: int
    kind: str
    request: dict[str, Any]
    response: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    total_s: float | None = None
    retries: int = 0
    cached: bool = False
    error: str | None = None
    reasoning: str | None = None
    started_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.response is not None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Gradable:
    """A text the grader is to read, as the solver decided it: what gets graded is the solver's call, never guessed
    later from the stored calls.

    Args:
        text: the exact text to grade (a response, a program's output, the turns of a tool-use try joined, the
            answer current after self-verification).
        answer_format: how ``text`` states its final answer (an extraction format of `mathgauge.grading`).
        call_index: the call (``Attempt.attempt_index``) the text concludes; its stored grade points at that call.
    """

    text: str
    answer_format: str
    call_index: int


@dataclass
class SolveOutcome:
    """What solving one sample produced.

    Args:
        calls: every model call made, in order.
        answer: what the sample is scored on; ``None`` only when the sample failed.
        initial: the answer before self-verification revised it (``verify`` mode), graded too so the report can
            say whether checking helped; ``None`` otherwise.
        error: why the sample failed (a request that failed for good); ``None`` otherwise.
        tries: how many tries were made (a new try only when the previous gave no answer or its code failed).
    """

    calls: list[Attempt]
    answer: Gradable | None
    error: str | None
    tries: int
    initial: Gradable | None = None

    @property
    def final_call(self) -> Attempt | None:
        return self.calls[-1] if self.calls else None

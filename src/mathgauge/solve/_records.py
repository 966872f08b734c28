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

    @property
    def ok(self) -> bool:
        return self.error is None and self.response is not None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

"""Plain records the store returns to the report and CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunRecord:
    """A stored run: what was asked (``config``) and how it went."""

    run_id: str
    name: str
    benchmark: str
    model: str
    status: str
    error: str | None
    config: dict[str, Any]
    versions: dict[str, Any]
    created_at: float
    started_at: float | None
    finished_at: float | None
    wall_s: float


@dataclass
class SampleResult:
    """One sample with its problem's facts, its calls summed up, and its grade (``None`` if not graded yet)."""

    problem_id: str
    sample_index: int
    position: int
    subject: str
    level: int | None
    gold: str
    status: str  # pending | done | failed
    error: str | None
    grade_status: str | None  # correct | incorrect | no_answer
    extracted: str | None
    grade_method: str | None
    grade_reason: str | None
    response: str | None
    finish_reason: str | None
    attempts: int = 0
    prompt_tokens: int | None = 0  # None: a call was answered without usage, so the sum is unknown
    completion_tokens: int | None = 0
    calls_without_usage: int = 0
    latency_s: float | None = None
    generation_s: float = 0.0  # summed over the sample's calls
    retries: int = 0
    cached: bool = False
    tries: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def correct(self) -> bool:
        return self.grade_status == "correct"

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

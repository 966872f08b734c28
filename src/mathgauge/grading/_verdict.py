"""The :class:`Verdict` record returned by every grading call."""

from __future__ import annotations

from dataclasses import asdict, dataclass

METHODS = ("string", "numeric", "symbolic", "structural", "none")
REASONS = ("no_answer", "timeout", "too_large", "parse_error", "mismatch")


@dataclass(frozen=True)
class Verdict:
    """Outcome of grading one response (or comparing two bare answers).

    ``reason`` is ``None`` when ``correct`` is true, else one of
    ``no_answer``, ``timeout``, ``too_large``, ``parse_error``, ``mismatch``.
    """

    correct: bool
    extracted: str | None
    normalized: str | None
    normalized_gold: str | None
    method: str
    reason: str | None

    @property
    def status(self) -> str:
        if self.correct:
            return "correct"
        if self.reason == "no_answer":
            return "no_answer"
        return "incorrect"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["status"] = self.status
        return d

"""Deterministic scripted answers: which problems the fake model gets right, wrong or leaves unanswered.

Tests compute the expected score with the same function the server uses, so the numbers they assert are
derived, not hard-coded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

WRONG_ANSWER = "999999"


@dataclass(frozen=True)
class ScriptRates:
    """Shares of problems answered correctly, without an answer, and cut off by the length limit."""

    correct: float = 0.7
    no_answer: float = 0.05
    truncated: float = 0.0


def _unit(problem: str) -> float:
    digest = hashlib.sha256(problem.strip().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def scripted_outcome(problem: str, rates: ScriptRates) -> str:
    """``correct`` | ``no_answer`` | ``truncated`` | ``wrong`` for a problem, fixed by its text's hash."""
    u = _unit(problem)
    if u < rates.correct:
        return "correct"
    if u < rates.correct + rates.no_answer:
        return "no_answer"
    if u < rates.correct + rates.no_answer + rates.truncated:
        return "truncated"
    return "wrong"


def scripted_response(problem: str, gold: str, rates: ScriptRates) -> tuple[str, str]:
    """The response text and finish reason the fake model gives for ``problem``."""
    outcome = scripted_outcome(problem, rates)
    steps = "Let me work through this step by step.\nFirst, restate the problem and identify what is asked.\n"
    if outcome == "correct":
        return steps + f"Therefore, the final answer is $\\boxed{{{gold}}}$.", "stop"
    if outcome == "no_answer":
        return steps + "I am not able to finish this one.", "stop"
    if outcome == "truncated":
        return steps + "Continuing the computation, we have that the sum equals", "length"
    wrong = WRONG_ANSWER if gold.strip() != WRONG_ANSWER else "0"
    return steps + f"So the answer is $\\boxed{{{wrong}}}$.", "stop"

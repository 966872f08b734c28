"""An LLM judge scoring a response 1-5 against the reference, through any model backend."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...models import ChatRequest, ModelBackend, ModelCallError
from .. import strip_thinking
from ._rubric import Rubric, load_rubric

#: Default bound on the part of a response the judge sees (its end, where the final answer is).
DEFAULT_MAX_RESPONSE_CHARS = 6000
#: Default bound on the reference solution shown (its beginning; references are rarely this long).
DEFAULT_MAX_REFERENCE_CHARS = 4000
STATUSES = ("ok", "unparseable", "failed")

# One score line: "SCORE: 4", tolerating the decorations judges add ("**Score:** 4", "Score = 4/5", "SCORE: [4]").
_SCORE_LINE = re.compile(r"^[\s*_#>`-]*score[\s*_`]*[:=][\s*_`\[(]*([0-9]+)[\s*_`\])]*(?:/\s*5)?[\s*_`.]*$",
                         re.IGNORECASE)


@dataclass
class JudgeScore:
    """One judged response.

    Args:
        score: 1-5, or ``None`` when the judge gave no readable score or the call failed.
        status: ``ok``, ``unparseable`` (no readable score after the retry) or ``failed`` (the call failed).
        raw: the judge's last reply, verbatim ("" when the call failed).
        rationale: the reply without its score line.
        tries: judge calls made (2 when the first reply was unreadable).
        error: why the call failed (status ``failed``).
        replies: every reply, in order (the first unreadable one included).
        rubric_version: the rubric the score was given under.
        correct_at: the lowest score that counts as correct under that rubric.
    """

    score: int | None
    status: str
    raw: str
    rationale: str = ""
    tries: int = 1
    error: str | None = None
    replies: list[str] = field(default_factory=list)
    rubric_version: str = ""
    correct_at: int = 4

    @property
    def correct(self) -> bool:
        """The answer counts as correct: a score of 4 or 5 (the rubric's ``correct_at``)."""
        return self.score is not None and self.score >= self.correct_at

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["correct"] = self.correct
        return doc


def parse_judge_reply(reply: str) -> tuple[int | None, str]:
    """Read the score of a judge reply.

    The reply must hold exactly one score line (``SCORE: N``, N in 1-5); several lines giving different scores,
    a score outside 1-5, or none at all make it unreadable. A thinking trace (``<think>...</think>``) is ignored.

    Args:
        reply: the judge's reply.

    Returns:
        ``(score, rationale)``; ``score`` is ``None`` when the reply is unreadable.
    """
    visible = strip_thinking(reply, keep_unclosed=True)
    scores: set[int] = set()
    rationale: list[str] = []
    for line in visible.splitlines():
        match = _SCORE_LINE.match(line.strip())
        if match:
            scores.add(int(match.group(1)))
        else:
            rationale.append(line)
    text = "\n".join(rationale).strip()
    if len(scores) != 1:
        return None, text
    score = scores.pop()
    return (score, text) if 1 <= score <= 5 else (None, text)


def response_tail(response: str, max_chars: int) -> str:
    """The final part of ``response`` the judge sees: thinking traces dropped, at most ``max_chars`` characters
    from its end, an omitted beginning marked."""
    visible = strip_thinking(response, keep_unclosed=True).strip()
    if not visible:
        return "(empty response)"
    if len(visible) <= max_chars:
        return visible
    return f"[... {len(visible) - max_chars} earlier characters omitted ...]\n" + visible[-max_chars:]


class Judge:
    """Scores responses on the 5-point rubric with a model behind any `ModelBackend`.

    A reply without a readable score gets one retry (the reply and a reminder of the format are sent back); a
    second unreadable reply is recorded as ``unparseable`` with score ``None``, never replaced by a default.
    Calls go through ``backend`` as they are, so wrapping it in `mathgauge.models.CachedBackend` caches them.

    Args:
        backend: the judge model (never the model under test by default; the caller chooses it).
        rubric: a `Rubric`, a shipped version (``"v1"``), a ``.toml`` path, or ``None`` for the default.
        max_response_chars: how much of the response's end the judge sees.
        max_reference_chars: how much of the reference solution's beginning the judge sees.
        temperature: judge sampling temperature (0: the same reply for the same response).
        max_tokens: judge reply limit (``None``: the server's maximum, so reasoning judges are not cut short).
        retries: follow-ups after an unreadable reply (1 by default).
    """

    def __init__(self, backend: ModelBackend, *, rubric: Rubric | str | Path | None = None,
                 max_response_chars: int = DEFAULT_MAX_RESPONSE_CHARS,
                 max_reference_chars: int = DEFAULT_MAX_REFERENCE_CHARS, temperature: float | None = 0.0,
                 max_tokens: int | None = None, retries: int = 1) -> None:
        if max_response_chars < 100:
            raise ValueError("max_response_chars must be at least 100")
        if retries < 0:
            raise ValueError("retries must not be negative")
        self.backend = backend
        self.rubric = rubric if isinstance(rubric, Rubric) else load_rubric(rubric)
        self.max_response_chars = max_response_chars
        self.max_reference_chars = max_reference_chars
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.retries = retries

    def describe(self) -> dict[str, Any]:
        """The judge settings that decide its scores (for the run config)."""
        return {"judge_model": self.backend.model, "rubric": self.rubric.version,
                "max_response_chars": self.max_response_chars, "max_reference_chars": self.max_reference_chars,
                "temperature": self.temperature, "max_tokens": self.max_tokens, "retries": self.retries}

    def messages(self, problem: str, reference_answer: str, reference_solution: str,
                 response: str) -> list[dict[str, str]]:
        """The first request's messages for one response (bounded as described in the class)."""
        solution = reference_solution.strip() or "(none given)"
        if len(solution) > self.max_reference_chars:
            solution = solution[: self.max_reference_chars] + "\n[... reference solution shortened ...]"
        return self.rubric.messages(problem.strip(), reference_answer.strip() or "(none given)", solution,
                                    response_tail(response, self.max_response_chars))

    async def score(self, problem: str, reference_answer: str, reference_solution: str,
                    response: str) -> JudgeScore:
        """Score one response.

        Args:
            problem: the problem statement.
            reference_answer: the gold answer.
            reference_solution: the reference solution ("" when there is none).
            response: the model's whole response (only its final part is shown).

        Returns:
            A `JudgeScore`; a failed judge call is recorded (status ``failed``), not raised. A
            `mathgauge.models.FatalEndpointError` (the judge endpoint is unusable) is raised.
        """
        messages = self.messages(problem, reference_answer, reference_solution, response)
        replies: list[str] = []
        rationale = ""
        for try_index in range(self.retries + 1):
            request = ChatRequest(messages=messages, temperature=self.temperature, max_tokens=self.max_tokens,
                                  try_index=try_index)
            try:
                reply = (await self.backend.complete(request)).text
            except ModelCallError as exc:
                return self._record(None, "failed", replies, "", error=exc.reason, tries=try_index + 1)
            replies.append(reply)
            score, rationale = parse_judge_reply(reply)
            if score is not None:
                return self._record(score, "ok", replies, rationale, tries=try_index + 1)
            # Show the judge its own reply and the required format again: a second chance at the same grading.
            messages = [*messages, {"role": "assistant", "content": reply}, self.rubric.retry_message()]
        return self._record(None, "unparseable", replies, rationale, tries=self.retries + 1)

    def _record(self, score: int | None, status: str, replies: list[str], rationale: str, *, tries: int,
                error: str | None = None) -> JudgeScore:
        return JudgeScore(score=score, status=status, raw=replies[-1] if replies else "", rationale=rationale,
                          tries=tries, error=error, replies=list(replies), rubric_version=self.rubric.version,
                          correct_at=self.rubric.correct_at)

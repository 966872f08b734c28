"""How the rule grader and the judge agree: the verdict x score matrix, Cohen's kappa and the disagreements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

RULE_VERDICTS = ("correct", "incorrect", "no_answer")
JUDGE_COLUMNS = ("1", "2", "3", "4", "5", "unparseable")
#: Grading modes: the rule grader only, the judge only, or the judge where the rules say incorrect / no answer.
GRADER_MODES = ("rules", "judge", "cascade")


@dataclass(frozen=True)
class Disagreement:
    """One response the two graders decide differently (rule correct vs judge score >= 4).

    Args:
        index: its position in the pairs given to `agreement`.
        label: the caller's name for it (e.g. ``problem_id#sample``), when labels were given.
        rule: the rule verdict.
        judge_score: the judge's score.
        kind: ``rule_only`` (rules say correct, the judge does not) or ``judge_only`` (the reverse).
    """

    index: int
    label: str | None
    rule: str
    judge_score: int
    kind: str


@dataclass
class Agreement:
    """Agreement of rule verdicts and judge scores.

    Args:
        matrix: counts, ``matrix[rule_verdict][judge_column]``, rows `RULE_VERDICTS`, columns `JUDGE_COLUMNS`.
        n: pairs counted.
        n_scored: pairs with a judge score (the base of kappa; unparseable ones are left out).
        observed: share of scored pairs where both say the same (correct / not correct).
        expected: the agreement expected by chance from the two graders' marginal rates.
        kappa: Cohen's kappa, ``(observed - expected) / (1 - expected)``; ``None`` when undefined (no scored
            pairs, or both graders give one single decision to everything, so chance agreement is 1).
        disagreements: the scored pairs decided differently, in input order.
        correct_at: the judge score that counts as correct.
    """

    matrix: dict[str, dict[str, int]]
    n: int
    n_scored: int
    observed: float | None
    expected: float | None
    kappa: float | None
    disagreements: list[Disagreement] = field(default_factory=list)
    correct_at: int = 4

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        """The matrix as plain text (rows: rule verdicts, columns: judge scores), with kappa below it."""
        width = max(len(r) for r in RULE_VERDICTS) + 2
        lines = ["rule \\ judge".ljust(width + 2) + "".join(c.rjust(12 if c == "unparseable" else 6)
                                                            for c in JUDGE_COLUMNS)]
        for rule in RULE_VERDICTS:
            row = self.matrix[rule]
            lines.append(rule.ljust(width + 2) + "".join(str(row[c]).rjust(12 if c == "unparseable" else 6)
                                                         for c in JUDGE_COLUMNS))
        kappa = "undefined" if self.kappa is None else f"{self.kappa:.3f}"
        lines.append(f"Cohen's kappa (rule correct vs judge >= {self.correct_at}): {kappa} over {self.n_scored} "
                     f"scored; {len(self.disagreements)} disagreements")
        return "\n".join(lines)


def agreement(pairs: Sequence[tuple[str, int | None]], *, labels: Sequence[str] | None = None,
              correct_at: int = 4) -> Agreement:
    """Compare rule verdicts with judge scores.

    Args:
        pairs: ``(rule_verdict, judge_score)`` per response; the verdict is ``correct``, ``incorrect`` or
            ``no_answer`` (`mathgauge.grading.Verdict.status`), the score 1-5 or ``None`` (unparseable or failed).
        labels: a name per pair, copied into the disagreements.
        correct_at: the lowest judge score counted as correct.

    Raises:
        ValueError: an unknown verdict, a score outside 1-5, or labels of another length.
    """
    if labels is not None and len(labels) != len(pairs):
        raise ValueError(f"{len(labels)} labels for {len(pairs)} pairs")
    matrix = {rule: {column: 0 for column in JUDGE_COLUMNS} for rule in RULE_VERDICTS}
    both = rule_yes = judge_yes = n_scored = 0
    disagreements: list[Disagreement] = []
    for index, (rule, score) in enumerate(pairs):
        if rule not in matrix:
            raise ValueError(f"unknown rule verdict {rule!r}; expected one of {', '.join(RULE_VERDICTS)}")
        if score is not None and score not in (1, 2, 3, 4, 5):
            raise ValueError(f"judge score {score!r} is outside 1-5")
        matrix[rule]["unparseable" if score is None else str(score)] += 1
        if score is None:
            continue
        n_scored += 1
        rule_correct, judge_correct = rule == "correct", score >= correct_at
        rule_yes += rule_correct
        judge_yes += judge_correct
        both += rule_correct == judge_correct
        if rule_correct != judge_correct:
            disagreements.append(Disagreement(index=index, label=labels[index] if labels is not None else None,
                                              rule=rule, judge_score=score,
                                              kind="rule_only" if rule_correct else "judge_only"))
    observed = expected = kappa = None
    if n_scored:
        observed = both / n_scored
        p_rule, p_judge = rule_yes / n_scored, judge_yes / n_scored
        expected = p_rule * p_judge + (1 - p_rule) * (1 - p_judge)
        # Chance agreement 1 means both graders gave everything one and the same decision: kappa is 0/0.
        kappa = None if expected >= 1.0 else (observed - expected) / (1 - expected)
    return Agreement(matrix=matrix, n=len(pairs), n_scored=n_scored, observed=observed, expected=expected,
                     kappa=kappa, disagreements=disagreements, correct_at=correct_at)


def judge_needed(mode: str, rule_verdict: str | None) -> bool:
    """Whether a response goes to the judge in grading ``mode``.

    Args:
        mode: one of `GRADER_MODES`.
        rule_verdict: the rule grader's verdict (``None`` when the rules did not run).
    """
    if mode not in GRADER_MODES:
        raise ValueError(f"unknown grader mode {mode!r}; expected one of {', '.join(GRADER_MODES)}")
    if mode == "rules":
        return False
    if mode == "judge":
        return True
    return rule_verdict != "correct"  # cascade: the cheap rules decide what they can accept


def final_correct(mode: str, rule_verdict: str | None, judge_score: int | None, *, correct_at: int = 4) -> bool:
    """The grade a sample gets in ``mode``: the rules, the judge (score >= ``correct_at``), or in ``cascade`` the
    rules' ``correct`` and otherwise the judge. An unparseable or failed judge score counts as not correct (it is
    reported as such, never given a default)."""
    judged = judge_score is not None and judge_score >= correct_at
    if mode == "rules":
        return rule_verdict == "correct"
    if mode == "judge":
        return judged
    if mode == "cascade":
        return rule_verdict == "correct" or judged
    raise ValueError(f"unknown grader mode {mode!r}; expected one of {', '.join(GRADER_MODES)}")

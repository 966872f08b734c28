"""An LLM judge on a 5-point rubric (a versioned data file), and its agreement with the rule grader.

Scores: 5 = answer equivalent to the reference and reasoning sound; 4 = equivalent answer with notation/format
differences or minor slips; 3 = partly right; 2 = wrong answer with some valid steps; 1 = wrong, missing or
off-task. A score of 4 or 5 counts as correct. Replies must end with ``SCORE: N``; an unreadable reply gets one
retry and is then recorded as ``unparseable`` (score ``None``), never given a default score.

Grading modes (`GRADER_MODES`): ``rules`` (the rule grader only), ``judge`` (the judge decides), ``cascade``
(the judge only where the rules say incorrect or no answer); `judge_needed` and `final_correct` say which
responses go to the judge and what grade a sample gets.
"""

from ._agreement import (
    GRADER_MODES,
    JUDGE_COLUMNS,
    RULE_VERDICTS,
    Agreement,
    Disagreement,
    agreement,
    final_correct,
    judge_needed,
)
from ._judge import (
    DEFAULT_MAX_RESPONSE_CHARS,
    STATUSES,
    Judge,
    JudgeScore,
    parse_judge_reply,
    response_tail,
)
from ._rubric import DEFAULT_RUBRIC, Rubric, load_rubric

__all__ = [
    "DEFAULT_MAX_RESPONSE_CHARS",
    "DEFAULT_RUBRIC",
    "GRADER_MODES",
    "JUDGE_COLUMNS",
    "RULE_VERDICTS",
    "STATUSES",
    "Agreement",
    "Disagreement",
    "Judge",
    "JudgeScore",
    "Rubric",
    "agreement",
    "final_correct",
    "judge_needed",
    "load_rubric",
    "parse_judge_reply",
    "response_tail",
]

"""Answer grading for mathgauge: extraction of the final answer and equivalence.

Policy (what counts as equal), following ``shared/grading/README.md``:

* The final answer is the last one the response commits to in the requested
  format; thinking traces (``<think>...</think>``) are never graded; a response
  with no answer, or cut off before it commits to one, is incorrect
  (reason ``no_answer``).
* Presentation is ignored: ``$``, ``\\left``/``\\right``, ``\\dfrac``/``\\tfrac``,
  spacing, ``\\text{}``/``\\mbox{}`` wrappers, units and nouns after a number,
  degree signs, percent signs, currency, thousands separators, ordinal suffixes,
  ``x =`` / ``f(x) =`` prefixes and trailing periods.
* Numbers: integers and rationals are compared exactly (``\\frac12`` = ``0.5``,
  but 13535 != 13536 and 0.333 != 1/3); expressions with radicals, pi, logs or
  trigonometric functions are evaluated and must agree to a relative 1e-10;
  expressions with variables must agree at several fixed points (a symbolic
  identity test), and sympy decides in a worker process what evaluation cannot.
* Structure: tuples and intervals in order with the same brackets; sets,
  ``\\{...\\}``, bare comma lists and ``a \\pm b`` are unordered collections;
  unions of intervals unordered; matrices/vectors element by element (a tuple
  may stand for a column vector); equations equal up to a non-zero factor
  (``y = ...`` compares right-hand sides); inequalities by relation and sides;
  base subscripts (``52_8``) are kept: digits must match, and the base must too
  when both give one; multiple-choice letters ``(C)``/``\\text{(C)}``/``C``.
* Word answers (``\\text{Evelyn}``) compare case-insensitively, ignoring spaces
  and punctuation.

Safety: model text is never passed to ``eval``/``exec``/``sympify``/``parse_expr``;
answers are parsed by this package's own parser; sizes are bounded (exponents,
factorials, digits, length) and every grade has a time cap that works in threads
(sympy work runs in a killable worker process).
"""

from ._extract import ANSWER_FORMATS, extract_final_answer
from ._grader import Grader, answers_equivalent, grade
from ._verdict import Verdict

__all__ = ["ANSWER_FORMATS", "Grader", "Verdict", "answers_equivalent", "extract_final_answer", "grade"]

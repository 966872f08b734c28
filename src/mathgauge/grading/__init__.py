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
* Numbers: integers and rationals are compared exactly with ``fractions.Fraction``
  (``\\frac12`` = ``0.5`` = ``1/2``, repeating decimals ``0.\\overline{3}`` = ``1/3``,
  mixed numbers ``1\\frac{1}{2}`` = ``3/2``; but 13535 != 13536 and 0.333 != 1/3);
  expressions with radicals, pi, logs or trigonometric functions are evaluated in
  complex double precision and must agree to a relative 1e-10 (so a decimal
  approximation never equals an exact irrational); expressions with variables
  must agree at four fixed points (method ``symbolic``: a polynomial-identity
  style test), and sympy decides, in a killable worker process, what evaluation
  cannot (e.g. both sides undefined at every point). Signed infinities compare
  by sign.
* Structure: tuples and intervals in order with the same brackets; sets,
  ``\\{...\\}``, bare comma lists and ``a \\pm b`` are unordered collections;
  unions of intervals unordered; matrices/vectors element by element (a tuple
  may stand for a column vector); equations equal up to a non-zero factor
  (``y = ...`` compares right-hand sides; an answer ``x = 5`` or ``a = b = 5``
  counts as its last member against a non-equation); inequalities in one variable
  are intervals (``x > 3`` = ``(3, \\infty)``, ``2 \\le x \\le 5`` = ``[2, 5]``), other
  inequalities compare by relation and sides;
  base subscripts (``52_8``) are kept: digits must match, and the base must too
  when both give one; multiple-choice letters ``(C)``/``\\text{(C)}``/``C``.
* Word answers (``\\text{Evelyn}``) compare case-insensitively, ignoring spaces
  and punctuation; a one-word gold also matches a sentence ending in that word
  ("This equation represents an ellipse").
* Several different answers for one value ("12 or 13", two different boxes on
  the final line) are incorrect; repeated equal answers are fine.

Entry points: :func:`grade` (extract + compare), :func:`answers_equivalent`
(two bare answers), :func:`extract_final_answer`, and :class:`Grader` (reusable,
thread-safe, caches parsed reference answers, owns the sympy worker processes;
``workers=0`` disables sympy). Verdict reasons: ``no_answer``, ``mismatch``,
``parse_error`` (an answer that is neither parseable math nor equal as text),
``too_large`` (sizes beyond the caps), ``timeout`` (the time cap was hit).

Safety: model text is never passed to ``eval``/``exec``/``sympify``/``parse_expr``;
answers are parsed by this package's own parser; sizes are bounded (exponents,
factorials, digits, length) and every grade has a time cap that works in threads
(sympy work runs in a killable worker process).
"""

from ._boxed import last_boxed
from ._extract import ANSWER_FORMATS, extract_final_answer
from ._grader import Grader, answers_equivalent, grade
from ._limits import MAX_ANSWER_CHARS
from ._text import strip_thinking
from ._verdict import Verdict

__all__ = ["ANSWER_FORMATS", "MAX_ANSWER_CHARS", "Grader", "Verdict", "answers_equivalent", "extract_final_answer",
           "grade", "last_boxed", "strip_thinking"]

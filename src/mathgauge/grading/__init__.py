"""Answer grading for mathgauge: extraction of the final answer and equivalence.

Policy (what counts as equal), following ``shared/grading/README.md``:

* The final answer is the last one the response commits to in the requested format; thinking traces
  (``<think>...</think>``) are never graded; a response with no answer, or cut off before it commits to one, is
  incorrect (reason ``no_answer``). What trails a committed answer without committing a new one does not
  replace it: code blocks and program output, tool transcripts ("Tool call limit reached"), a leaked chat turn
  after a chat-template token (ChatML ``<|im_start|>``, Llama ``<|eot_id|>``, Gemma ``<end_of_turn>``, Phi
  ``<|end|>``, Cohere, DeepSeek's full-width ``<｜User｜>``, Llama 2/Mistral ``[INST]`` and ``</s>``), a
  double-check or closing remark. An invented follow-up question written as plain text ("Human: ...", a
  numbered "2. ...", "Question: ...") that is answered last does replace it (graded as the answer). In the
  harmony format only the ``final`` channel is read; in the visible-thought format (``<|begin_of_thought|>``)
  a solution cut off before it commits leaves the thought's answer standing. Without a marked answer the
  concluding statement is read ("So 9.6 is the correct sum of 4.1 and 5.5." -> 9.6; "Hence $y \\le 4$ is the
  solution." -> y <= 4; "2x = 14 => x = 7" -> x = 7; "x = -1 and x = 4 are the solutions" -> both); a value the
  sentence rules out ("It cannot be 7", "x = 0, but this is not correct") or hedges ("maybe it is 12") is no
  conclusion. A response cut off mid-sentence commits only in its unfinished sentence, and not at a list's
  first item ("...derivatives:\\n\\n1."), inside an open bracket or math span, or at a trailing number that may
  itself be cut.
* A reference answer that contains ``\\boxed{}`` (a whole reference solution) stands for its last box; a
  reference solution without a box (a long one, a GSM8K ``#### 250`` one, or a sentence with a value: "The
  steady state current is 2 amps.") for the answer it states.
* Presentation is ignored: ``$``, ``\\left``/``\\right``, ``\\dfrac``/``\\tfrac``, spacing, ``\\text{}``/``\\mbox{}``
  wrappers, markdown bold, ``<script type="math/tex">``, invisible characters (NUL, zero-width, bidi controls),
  LaTeX escaped twice (``\\\\frac``), units and nouns after a number, degree signs, percent signs, currency,
  thousands separators (``12,\\! 345``, ``14{,}916``, ``1 000``), ordinal suffixes, trailing periods and
  backslashes, restatements after the answer (", approximately 5.66", "(i.e., 1/2)").
* Numbers: integers and rationals are compared exactly with ``fractions.Fraction`` (``\\frac12`` = ``0.5`` =
  ``1/2``, repeating decimals ``0.\\overline{3}`` = ``1/3``, mixed numbers ``1\\frac{1}{2}``, ``1\\tfrac12`` and
  ``1 1/2`` = ``3/2``, scientific notation ``1.5e3`` = 1500; numbers side by side are never a product: ``11 7/6``
  is not 77/6; but 13535 !=
  13536 and 0.333 != 1/3: no tolerance for rounded decimals); a decimal with 12 or more significant digits is
  a program's floating-point output and equals the value it rounds (``0.0833333333333333`` = ``1/12``). A comma
  is never a decimal point (``1000,99`` is a list, not 1000.99). Expressions with radicals, pi, logs or
  trigonometric functions are evaluated in complex double precision and must agree to a relative 1e-10 (so a
  decimal approximation never equals an exact irrational); expressions with variables must agree at four fixed
  points (method ``symbolic``), and sympy decides, in a killable worker process, what evaluation cannot.
  Undefined values are never equal (``\\frac{2}{0}`` != ``\\frac{1}{0}``). Signed infinities compare by sign.
* Structure (a typed answer tree, ``_tree.py``): tuples and intervals in order with the same brackets (``(0;2;0)``
  is a tuple); sets (``\\{...\\}``, bare ``{...}``), bare comma/"or"/"and" lists and ``a \\pm b`` are unordered
  collections (a list of solutions is a set, never an ordered string; one ``\\pm`` anywhere, as in
  ``\\frac{-1 \\pm \\sqrt{5}}{2}``, is its two values, listed with the others); unions of intervals unordered;
  ``\\mathbb{R}`` and "all real numbers" are ``(-\\infty, \\infty)``, ``\\emptyset``/``\\{\\}``/"no solution" the
  empty set; matrices/vectors element by element (``\\left[\\begin{array}...\\end{array}\\right]`` too; a tuple
  or ``\\langle 1, 2 \\rangle`` may stand for a column or row vector). Equations equal up to a non-zero factor
  (``2=x`` = ``x=2``); a side that only names the value is a label (``x``, ``(p,q)``, ``|AB|``, ``S_1:S_2``,
  ``f(x)``, ``\\frac{NO}{BO}``), so ``(p,q)=(3,2)`` = ``(3,2)``; an answer ``x = 5`` or ``a = b = 5`` counts as
  its last member against a non-equation; ``x = -5, p = 14/3`` is a labelled tuple. ``exact \\approx decimal``
  is its exact side. Relations: ASCII ``>=``, ``<=``, ``!=`` are relations, never equations; an inequality in one
  variable is an interval (``x > 3`` = ``(3, \\infty)``, ``-x > -1`` = ``x < 1``, ``2 \\le x \\le 5`` = ``[2, 5]`` =
  ``x \\in [2, 5]``, ``a < f(x) < b`` = ``(a, b)``, ``\\{x \\mid x > 2\\}`` = ``(2, \\infty)``); inequalities in one
  variable joined by "or" are the union of their intervals, a lower and an upper bound joined by "and" their
  interval; other inequalities compare by relation and sides. Base subscripts (``52_8``, ``-1011_2``) are kept:
  digits and sign must match, and the base must too when both give one.
* Multiple-choice letters ``(C)``/``\\text{(C)}``/``C``/``c``, also followed by their option text (``C. x = 42``,
  ``(B) Ellipse``), and "The answer is A." or "I choose option (b)."; never when followed by an operator or a
  verdict (``B = 5``, ``A\\cdot 2``, "D is wrong", "pick B = 3").
* Word answers (``\\text{Evelyn}``) compare case-insensitively, ignoring spaces and punctuation; a one-word gold
  also matches a sentence ending in that word after an article or a verb of being ("This equation represents
  an ellipse"; not "Luka earns more than Navin").
* Several different answers for one value ("12 or 13", two different boxes listed on the final line, "the
  square root is 8, and the cube root is 4") are incorrect; repeated equal answers are fine.
* Where peers' test suites expect otherwise, on purpose: a comma is never a decimal point (``1000,99``); rounded
  decimals never equal exact values (``(0.6, 2.6667]`` is not ``(3/5, 8/3]``: no relative tolerance); a list of
  solutions is a set (``10, 4, -2`` = ``4, 10, -2``); ``x \\in [a, b]`` and ``a \\le x \\le b`` are equal both
  ways; boxes on one line separated only by spaces list several answers (``\\boxed{20} \\boxed{143}`` is not 143);
  a statement after the last box that is not a "Final Answer:" sentence does not replace the box. Not computed:
  matrix arithmetic left unevaluated in an answer (``A + B``), sums written with ``\\sum``, inequalities that
  are not linear (``|x - 1| < 3``, ``x^2 < 4``).

Entry points: :func:`grade` (extract + compare), :func:`answers_equivalent` (two bare answers),
:func:`extract_final_answer`, and :class:`Grader` (reusable, thread-safe, caches parsed reference answers and
verdicts, owns the sympy worker processes; ``workers=0`` disables sympy). Shared helpers: :func:`last_boxed`
(the one ``\\boxed{}`` extractor) and :func:`strip_thinking` (the one thinking-trace stripper); one size bound
for answers, :data:`MAX_ANSWER_CHARS` (two identical answers are equal by string before it applies). Verdict
reasons: ``no_answer``, ``mismatch``, ``parse_error`` (an answer that is neither parseable math nor equal as
text), ``too_large`` (sizes beyond the caps), ``timeout`` (the time cap was hit).

Layout: parsing and comparing are kept apart. ``_text``/``_boxed``/``_extract``/``_prose`` find the answer text;
``_normalize`` cleans it; ``_structure`` builds the answer tree and ``_latex`` parses expressions;
``_compare``/``_values``/``_numeric`` compare; ``_grader`` orchestrates (it, not the comparison, re-reads an
answer that is a sentence).

Safety: model text is never passed to ``eval``/``exec``/``sympify``/``parse_expr``; answers are parsed by this
package's own parser; sizes are bounded (exponents, factorials, digits, length) and every grade has a time cap
that works in threads (sympy work runs in a killable worker process).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The names below are loaded on first use, each with its module only: the parser and comparison compile about a
# hundred regular expressions (most of a run's start-up), which reading answer formats or one box never needs.
_WHERE = {"last_boxed": "_boxed", "ANSWER_FORMATS": "_extract", "extract_final_answer": "_extract",
          "Grader": "_grader", "answers_equivalent": "_grader", "grade": "_grader", "MAX_ANSWER_CHARS": "_limits",
          "unreadable_parts": "_readable", "strip_thinking": "_text", "Verdict": "_verdict"}

__all__ = ["ANSWER_FORMATS", "MAX_ANSWER_CHARS", "Grader", "Verdict", "answers_equivalent", "extract_final_answer",
           "grade", "last_boxed", "strip_thinking", "unreadable_parts"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from ._boxed import last_boxed
    from ._extract import ANSWER_FORMATS, extract_final_answer
    from ._grader import Grader, answers_equivalent, grade
    from ._limits import MAX_ANSWER_CHARS
    from ._readable import unreadable_parts
    from ._text import strip_thinking
    from ._verdict import Verdict

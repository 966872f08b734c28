"""Grading entry points: :func:`grade`, :func:`answers_equivalent` and :class:`Grader`."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._boxed import last_boxed
from ._compare import compare
from ._extract import check_format, extract_final_answer
from ._latex import ParseError, TooLarge
from ._limits import MAX_RESPONSE_CHARS
from ._normalize import basic_normalize
from ._prose import reduce_sentence
from ._structure import parse_answer
from ._text import remove_invisible
from ._tree import Expr, Node
from ._values import NeedSymbolic, Outcome, Timeout
from ._verdict import Verdict

if TYPE_CHECKING:
    from ._pool import SymbolicPool


_PERCENT_RE = re.compile(r"(?:\\%|%|\\percent|\bpercent)\s*\}?\s*\$?\s*\.?\s*$")
_PLAIN_NUMBER_RE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_RATIO_RE = re.compile(r"(-?\d+)\s*:\s*(-?\d+)")
_CLOCK_RE = re.compile(r"\d{1,2}\s*:\s*\d\d")
_PERCENT_WORD_RE = re.compile(r"\s*\bpercent$")


def _alternative_readings(candidate: str, gold: str, cand_norm: str, gold_norm: str):
    """Other readings of an answer pair that failed as written, as (method, candidate, gold) normalised forms.

    A percentage against a plain number is also read as a fraction (``5\\%`` is ``0.05``); the number alone was
    already compared, since normalising drops the percent sign. A ratio ``a:b`` is also read as ``a/b``, against a
    number or another ratio (``2:4`` is ``1:2``), unless it could be a time of day (``9:36``).
    """
    cand_pct, gold_pct = bool(_PERCENT_RE.search(candidate)), bool(_PERCENT_RE.search(gold))
    if cand_pct != gold_pct:
        number = _PERCENT_WORD_RE.sub("", cand_norm if cand_pct else gold_norm)
        if _PLAIN_NUMBER_RE.fullmatch(number):
            fraction = f"\\frac{{{number}}}{{100}}"
            yield ("percent", fraction, gold_norm) if cand_pct else ("percent", cand_norm, fraction)
    cand_ratio, gold_ratio = _as_quotient(cand_norm), _as_quotient(gold_norm)
    if cand_ratio or gold_ratio:
        yield "ratio", cand_ratio or cand_norm, gold_ratio or gold_norm


def _as_quotient(norm: str) -> str | None:
    if "=" in norm:
        norm = norm.rsplit("=", 1)[1].strip()  # "a:b = 2:3"
    m = _RATIO_RE.fullmatch(norm)
    if m is None or _CLOCK_RE.fullmatch(norm) or m.group(2).lstrip("-") == "0":
        return None
    return f"\\frac{{{m.group(1)}}}{{{m.group(2)}}}"


_SOLUTION_RE = re.compile(r"[.!?]\s+[A-Z]")
_ENGLISH_RE = re.compile(r"(?<![\\A-Za-z])(?:the|is|are|since|because|so|answer|when|where|for)(?![A-Za-z])", re.I)


def reduce_gold(gold: str) -> str:
    """The answer a reference states.

    Args:
        gold: a reference answer, or a whole reference solution.

    Returns:
        The last box of a solution (boxes listed with it on its line joined), the final answer of a long
        solution without a box, else the reference itself.
    """
    gold = remove_invisible(gold).strip()
    if "\\boxed" in gold or "\\fbox" in gold:
        box = last_boxed(gold, join_line=True)
        if box:
            return box
    words = len(gold.split())
    if len(gold) > 100 and _SOLUTION_RE.search(gold) and words >= 12:
        stated = extract_final_answer(gold, "auto")
        if stated:
            return stated
    elif "####" in gold or words >= 4 and _is_prose(gold):
        # a one-line solution ("Since $4 \\cdot 3 = 12$, there are 12 ways."): its value, when it states one
        stated = extract_final_answer(gold, "auto")
        if stated and re.search(r"[\d\\]", stated) and not _ENGLISH_RE.search(stated) and _whole(stated):
            return stated
    return gold


def _whole(expr: str) -> bool:
    """Not a piece cut out of a larger expression (``\\end{array}\\right]=0``): environments and braces close."""
    return expr.count("\\begin") == expr.count("\\end") and expr.count("{") == expr.count("}")


_PROSE_WORD_RE = re.compile(r"(?<![\\A-Za-z])(?:the|is|are|it|of|to|in|so|and|since|because|there|we|this|that|for|"
                            r"with|when|where|which|answer|be|has|have)(?![A-Za-z])", re.I)


def _is_prose(text: str) -> bool:
    """A sentence with a value, not a word answer ("The midpoints form a regular hexagon")."""
    return len(_PROSE_WORD_RE.findall(text)) >= 2 and bool(re.search(r"\d", text))


@dataclass(frozen=True)
class _Reference:
    """A reference answer ready for comparison: what it states, normalised, and its answer tree."""

    text: str
    norm: str
    tree: Node


def _prepare_gold(gold: str) -> _Reference:
    text = reduce_gold(gold)
    norm = basic_normalize(text)
    try:
        tree = parse_answer(norm)
    except (TooLarge, ParseError, RecursionError):
        tree = Expr(norm)
    return _Reference(text, norm, tree)


class Grader:
    """Reusable, thread-safe grader.

    Caches the parsed reference answers, and owns the worker process used for
    sympy comparisons (started lazily, only when a comparison needs it; a
    comparison that overruns ``timeout_s`` has its worker killed and restarted).
    """

    def __init__(self, *, answer_format: str = "auto", timeout_s: float = 2.0, workers: int | None = None) -> None:
        self.answer_format = check_format(answer_format)
        self.timeout_s = float(timeout_s)
        self.workers = 1 if workers is None else max(0, int(workers))
        self._gold_cache: dict[str, _Reference] = {}
        self._verdict_cache: dict[tuple[str, str], Verdict] = {}
        self._lock = threading.Lock()
        self._pool: SymbolicPool | None = None
        self._closed = False

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._closed = True
        if pool is not None:
            pool.close()

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # pragma: no cover - best effort
        try:
            if self._pool is not None:
                self._pool.close()
        except Exception:
            pass

    # ------------------------------------------------------------ internals
    def _gold(self, gold: str) -> _Reference:
        hit = self._gold_cache.get(gold)
        if hit is None:
            hit = _prepare_gold(gold)
            if len(self._gold_cache) > 100_000:
                self._gold_cache.clear()
            self._gold_cache[gold] = hit
        return hit

    def _symbolic(self, a: str, b: str, remaining: float) -> Outcome:
        if self.workers == 0:
            return Outcome(False, "symbolic", "parse_error")
        with self._lock:
            if self._pool is None:
                from ._pool import SymbolicPool

                self._pool = SymbolicPool(self.workers)
            pool = self._pool
        return pool.compare(a, b, remaining)

    def compare_answers(self, candidate: str, gold: str) -> Verdict:
        """Compare a bare answer with the reference (verdicts are cached, except timeouts).

        Args:
            candidate: the extracted answer.
            gold: the reference answer.

        Returns:
            The :class:`Verdict`.
        """
        key = (candidate, gold)
        hit = self._verdict_cache.get(key)
        if hit is not None:
            return hit
        v = self._compare_answers(candidate, gold)
        if v.reason != "timeout":
            if len(self._verdict_cache) > 200_000:
                self._verdict_cache.clear()
            self._verdict_cache[key] = v
        return v

    def _compare_answers(self, candidate: str, gold: str) -> Verdict:
        deadline = time.monotonic() + self.timeout_s
        ref = self._gold(gold)
        try:
            cand_norm = basic_normalize(candidate)
        except RecursionError:
            return Verdict(False, candidate, None, ref.norm, "none", "too_large")
        out = self._run_compare(cand_norm, ref.norm, ref.tree, deadline)
        if not out.correct and out.reason not in ("timeout", "too_large"):
            out = self._other_readings(candidate, cand_norm, ref, deadline) or out
        if out.correct:
            return Verdict(True, candidate, cand_norm, ref.norm, out.method, None)
        return Verdict(False, candidate, cand_norm, ref.norm, out.method, out.reason or "mismatch")

    def _other_readings(self, candidate: str, cand_norm: str, ref: _Reference, deadline: float) -> Outcome | None:
        """A correct outcome from another reading of an answer that failed as written, else None: a sentence
        reduced to its value ("The answer is 5", "4 (since x > 0)"), a percentage or a ratio as a fraction."""
        if _ENGLISH_RE.search(cand_norm):
            reduced = reduce_sentence(cand_norm)
            if reduced and reduced != cand_norm:
                again = self._run_compare(basic_normalize(reduced), ref.norm, ref.tree, deadline)
                if again.correct:
                    return again
        for method, alt_cand, alt_gold in _alternative_readings(candidate, ref.text, cand_norm, ref.norm):
            alt_tree = ref.tree if alt_gold == ref.norm else self._gold(alt_gold).tree
            if self._run_compare(alt_cand, alt_gold, alt_tree, deadline).correct:
                return Outcome(True, method, None)
        return None

    def _run_compare(self, cand_norm: str, gold_norm: str, gold_tree: Node, deadline: float) -> Outcome:
        try:
            return compare(cand_norm, gold_norm, gold_tree, deadline)
        except Timeout:
            return Outcome(False, "none", "timeout")
        except NeedSymbolic as need:
            return self._symbolic(need.a, need.b, max(0.05, deadline - time.monotonic()))
        except (TooLarge, RecursionError):
            return Outcome(False, "none", "too_large")
        except (ParseError, ValueError, ZeroDivisionError, OverflowError, ArithmeticError, IndexError, KeyError,
                TypeError):
            # model text must never crash a grade: a shape no comparison expects is unreadable, not an error
            return Outcome(False, "none", "parse_error")

    # ------------------------------------------------------------ public
    def grade(self, response: str, gold: str, *, answer_format: str | None = None) -> Verdict:
        """Extract the final answer of ``response`` and compare it with ``gold``.

        Args:
            response: the model's whole response.
            gold: the reference answer (a whole reference solution is read by its last ``\\boxed{}``).
            answer_format: overrides the grader's format for this response.

        Returns:
            The :class:`Verdict`.
        """
        fmt = self.answer_format if answer_format is None else check_format(answer_format)
        if response is None:
            response = ""
        if len(response) > MAX_RESPONSE_CHARS:
            response = response[-MAX_RESPONSE_CHARS:]
        extracted = extract_final_answer(response, fmt)
        if extracted is None:
            return Verdict(False, None, None, self._gold(gold).norm, "none", "no_answer")
        return self.compare_answers(extracted, gold)


_DEFAULT: Grader | None = None
_DEFAULT_LOCK = threading.Lock()


def _default() -> Grader:
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Grader()
        return _DEFAULT


def answers_equivalent(candidate: str, gold: str, *, timeout_s: float = 2.0) -> Verdict:
    """Compare two bare answers.

    Args:
        candidate: the answer to check.
        gold: the reference answer.
        timeout_s: time cap of the comparison.

    Returns:
        The :class:`Verdict`.
    """
    g = _default()
    if timeout_s == g.timeout_s:
        return g.compare_answers(candidate, gold)
    tmp = Grader(timeout_s=timeout_s, workers=g.workers)
    tmp._gold_cache = g._gold_cache
    tmp._symbolic = g._symbolic  # type: ignore[method-assign]  # share the default grader's worker process
    return tmp.compare_answers(candidate, gold)


def grade(response: str, gold: str, *, answer_format: str = "auto", timeout_s: float = 2.0) -> Verdict:
    """Extract the final answer of ``response`` and compare it with ``gold``.

    Args:
        response: the model's whole response.
        gold: the reference answer (a whole reference solution is read by its last ``\\boxed{}``).
        answer_format: one of ``ANSWER_FORMATS`` (default ``auto``: every shape).
        timeout_s: time cap of the grade.

    Returns:
        The :class:`Verdict`.
    """
    check_format(answer_format)
    g = _default()
    if timeout_s == g.timeout_s:
        return g.grade(response, gold, answer_format=answer_format)
    tmp = Grader(answer_format=answer_format, timeout_s=timeout_s, workers=g.workers)
    tmp._gold_cache = g._gold_cache
    tmp._symbolic = g._symbolic  # type: ignore[method-assign]  # share the default grader's worker process
    return tmp.grade(response, gold)

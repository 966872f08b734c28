"""Grading entry points: :func:`grade`, :func:`answers_equivalent` and :class:`Grader`."""

from __future__ import annotations

import threading
import time

from ._compare import NeedSymbolic, Outcome, Timeout, compare, normalize_answer, structure
from ._extract import check_format, extract_final_answer
from ._latex import ParseError, TooLarge
from ._verdict import Verdict

MAX_RESPONSE_CHARS = 2_000_000


def _prepare_gold(gold: str):
    norm = normalize_answer(gold)
    try:
        st = structure(norm)
    except (TooLarge, ParseError, RecursionError):
        st = ("expr", norm)
    return norm, st


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
        self._gold_cache: dict[str, tuple] = {}
        self._verdict_cache: dict[tuple[str, str], Verdict] = {}
        self._lock = threading.Lock()
        self._pool = None
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
    def _gold(self, gold: str):
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
        start = time.monotonic()
        deadline = start + self.timeout_s
        gold_norm, gold_struct = self._gold(gold)
        try:
            cand_norm = normalize_answer(candidate)
        except RecursionError:
            return Verdict(False, candidate, None, gold_norm, "none", "too_large")
        try:
            out = compare(cand_norm, gold_norm, gold_struct, deadline)
        except Timeout:
            out = Outcome(False, "none", "timeout")
        except NeedSymbolic as need:
            out = self._symbolic(need.a, need.b, max(0.05, deadline - time.monotonic()))
        except TooLarge:
            out = Outcome(False, "none", "too_large")
        except RecursionError:
            out = Outcome(False, "none", "too_large")
        except (ParseError, ValueError, ZeroDivisionError, OverflowError, ArithmeticError):
            out = Outcome(False, "none", "parse_error")
        if out.correct:
            return Verdict(True, candidate, cand_norm, gold_norm, out.method, None)
        reason = out.reason or "mismatch"
        return Verdict(False, candidate, cand_norm, gold_norm, out.method, reason)

    # ------------------------------------------------------------ public
    def grade(self, response: str, gold: str, *, answer_format: str | None = None) -> Verdict:
        fmt = self.answer_format if answer_format is None else check_format(answer_format)
        if response is None:
            response = ""
        if len(response) > MAX_RESPONSE_CHARS:
            response = response[-MAX_RESPONSE_CHARS:]
        extracted = extract_final_answer(response, fmt)
        if extracted is None:
            gold_norm = self._gold(gold)[0]
            return Verdict(False, None, None, gold_norm, "none", "no_answer")
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
    """Compare two bare answers."""
    g = _default()
    if timeout_s == g.timeout_s:
        return g.compare_answers(candidate, gold)
    tmp = Grader(timeout_s=timeout_s, workers=g.workers)
    tmp._gold_cache = g._gold_cache
    tmp._symbolic = g._symbolic  # share the default grader's worker process
    return tmp.compare_answers(candidate, gold)


def grade(response: str, gold: str, *, answer_format: str = "auto", timeout_s: float = 2.0) -> Verdict:
    """Extract the final answer of ``response`` and compare it with ``gold``."""
    check_format(answer_format)
    g = _default()
    if timeout_s == g.timeout_s:
        return g.grade(response, gold, answer_format=answer_format)
    tmp = Grader(answer_format=answer_format, timeout_s=timeout_s, workers=g.workers)
    tmp._gold_cache = g._gold_cache
    tmp._symbolic = g._symbolic
    return tmp.grade(response, gold)

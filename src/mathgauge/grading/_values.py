"""Equality of two expressions by value (leaves of the answer tree), and of two equations up to a factor.

Exact rationals first (``fractions.Fraction``), then complex floating point at fixed points for variables with
a relative tolerance of 1e-10; what evaluation cannot decide goes to sympy (:class:`NeedSymbolic`). A decimal
written with at least :data:`LONG_DECIMAL_DIGITS` significant digits is a program's floating-point output and
equals the value it rounds (``0.0833333333333333`` = ``1/12``); shorter decimals must be exact (``0.333`` is not
``1/3``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from fractions import Fraction

from ._latex import ParseError, TooLarge, free_symbols, parse_expr
from ._normalize import text_key
from ._numeric import NotExact, evaluate, exact

REL_TOL = 1e-10
LONG_DECIMAL_DIGITS = 12
_POINTS = (0.7312659, 1.3719287, 2.2136197, 0.4161473)  # where expressions with variables are compared


class Timeout(Exception):
    """The time cap of the grade was reached."""


class NeedSymbolic(Exception):
    """The cheap checks could not decide; sympy should try."""

    def __init__(self, a: str, b: str):
        super().__init__(a, b)
        self.a = a
        self.b = b


@dataclass
class Outcome:
    """Result of one comparison: ``method`` as in :data:`._verdict.METHODS`, ``reason`` when not correct."""

    correct: bool
    method: str
    reason: str | None


def check_deadline(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise Timeout


# ---------------------------------------------------------------- parsing with a cache

_OVERLINE_RE = re.compile(r"(\d*)\.(\d*)\\overline\{(\d{1,12})\}")
# a mixed number: 1\frac{1}{2}, 3\frac12, 4 4/9 (whole part, then a proper fraction)
_MIXED_RE = re.compile(r"^([-+]?)(\d+)(?:\s*\\frac\s*(?:\{(\d+)\}|(\d))\s*(?:\{(\d+)\}|(\d))|\s+(\d+)\s*/\s*(\d+))$")
_WORDLIKE_RE = re.compile(r"^[A-Za-z0-9 .,:;'()\-]*[A-Za-z]{2}[A-Za-z0-9 .,:;'()\-]*$")
_LONG_DECIMAL_RE = re.compile(r"^-?(\d*)\.(\d+)$")


def wordlike(s: str) -> bool:
    """Plain words (no LaTeX, no operators): compared loosely as text."""
    return bool(_WORDLIKE_RE.match(s))


def _repeating(m: re.Match) -> str:
    whole, fixed, rep = m.group(1) or "0", m.group(2), m.group(3)
    num = int(whole + fixed + rep) - int(whole + fixed)
    den = int("9" * len(rep) + "0" * len(fixed))
    return f"({num}/{den})"


def _mixed_number(s: str) -> str:
    m = _MIXED_RE.match(s.strip())
    if m is None:
        return s
    sign, w = m.group(1).replace("+", ""), m.group(2)
    a, b = (m.group(3) or m.group(4) or m.group(7)), (m.group(5) or m.group(6) or m.group(8))
    return f"{sign}({w}+{a}/{b})" if int(a) < int(b) else s


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed expression, or why it could not be parsed (``too_large`` / ``parse_error``)."""

    node: tuple | None
    failure: str | None = None


class ExprCache:
    """Parsed expressions keyed by text (thread-safe enough: dict operations are atomic)."""

    def __init__(self, maxsize: int = 50_000) -> None:
        self.parsed: dict[str, Parsed] = {}
        self.maxsize = maxsize

    def get(self, s: str) -> Parsed:
        hit = self.parsed.get(s)
        if hit is not None:
            return hit
        try:
            out = Parsed(parse_expr(_OVERLINE_RE.sub(_repeating, _mixed_number(s))))
        except TooLarge:
            out = Parsed(None, "too_large")
        except (ParseError, RecursionError, ValueError, ZeroDivisionError):
            out = Parsed(None, "parse_error")
        if len(self.parsed) < self.maxsize:
            self.parsed[s] = out
        return out

    def clear(self) -> None:
        self.parsed.clear()


EXPR_CACHE = ExprCache()


# ---------------------------------------------------------------- values

def _values(node, syms) -> list[complex | None]:
    """Values of ``node`` at the fixed evaluation points (None where undefined)."""
    out: list[complex | None] = []
    names = sorted(syms)
    for k in range(len(_POINTS) if names else 1):
        env = {name: complex(_POINTS[(k + j) % len(_POINTS)] + 0.1 * j) for j, name in enumerate(names)}
        v: complex | None
        try:
            v = evaluate(node, env)
            if v != v or abs(v) == float("inf"):
                v = None
        except (ZeroDivisionError, OverflowError, ValueError, NotExact, KeyError):
            v = None
        out.append(v)
    return out


def _infinity(node) -> int:
    """+1 / -1 for (signed) infinity, 0 otherwise."""
    sign = 1
    while node[0] == "neg":
        sign = -sign
        node = node[1]
    return sign if node == ("sym", "infty") else 0


def _close(a: complex, b: complex) -> bool:
    return abs(a - b) <= REL_TOL * max(1.0, abs(a), abs(b))


def _long_decimal_tolerance(text: str) -> float | None:
    """Half a unit in the last place of a decimal with many significant digits, else None."""
    m = _LONG_DECIMAL_RE.match(text.strip())
    if not m:
        return None
    digits = (m.group(1) + m.group(2)).lstrip("0")
    if len(digits) < LONG_DECIMAL_DIGITS:
        return None
    return 0.5 * 10.0 ** -len(m.group(2))


def _exact_pair(na, nb) -> Outcome | None:
    """Both sides exact rationals: equal or not; None when either is not rational."""
    try:
        ea = exact(na)
        eb = exact(nb)
    except TooLarge:
        return Outcome(False, "numeric", "too_large")
    except (NotExact, ZeroDivisionError, OverflowError, ValueError):
        return None
    return Outcome(ea == eb, "numeric", None if ea == eb else "mismatch")


def _rounded_decimal(a: str, b: str, na, nb) -> Outcome | None:
    """A long decimal on one side against any constant on the other: equal when it rounds the value."""
    for text, dec_node, other in ((a, na, nb), (b, nb, na)):
        tol = _long_decimal_tolerance(text)
        if tol is None:
            continue
        va, vb = _values(dec_node, ()), _values(other, ())
        if va[0] is None or vb[0] is None:
            return None
        diff = abs(va[0] - vb[0])
        ok = diff <= tol + 4e-16 * max(1.0, abs(vb[0]))
        return Outcome(ok, "numeric", None if ok else "mismatch")
    return None


def compare_expr(a: str, b: str, deadline: float, cache: ExprCache = EXPR_CACHE) -> Outcome:
    """Compare two expressions (normalised text) by value.

    Args:
        a: candidate expression.
        b: reference expression.
        deadline: ``time.monotonic()`` limit.
        cache: parsed-expression cache.

    Returns:
        The outcome; raises :class:`Timeout` past the deadline and :class:`NeedSymbolic` when only sympy can
        decide.
    """
    if a.replace(" ", "") == b.replace(" ", ""):
        return Outcome(True, "string", None)
    check_deadline(deadline)
    pa, pb = cache.get(a), cache.get(b)
    if pa.node is None or pb.node is None:
        if wordlike(a) and wordlike(b) and text_key(a) == text_key(b):
            return Outcome(True, "string", None)
        return Outcome(False, "none", pa.failure or pb.failure)
    na, nb = pa.node, pb.node
    ia, ib = _infinity(na), _infinity(nb)
    if ia or ib:
        return Outcome(ia == ib, "numeric", None if ia == ib else "mismatch")
    syms = free_symbols(na) | free_symbols(nb)
    if not syms:
        decided = _rounded_decimal(a, b, na, nb) or _exact_pair(na, nb)
        if decided is not None:
            return decided
    return _compare_values(a, b, na, nb, syms)


def _compare_values(a: str, b: str, na, nb, syms) -> Outcome:
    try:
        va, vb = _values(na, syms), _values(nb, syms)
    except (TooLarge, RecursionError):
        return Outcome(False, "numeric", "too_large")
    method = "symbolic" if syms else "numeric"
    pairs = [(x, y) for x, y in zip(va, vb) if x is not None and y is not None]
    if not pairs:
        if not syms or any(x is not None for x in va) != any(y is not None for y in vb):
            return Outcome(False, method, "mismatch")  # undefined constants are never equal (1/0 vs 2/0)
        raise NeedSymbolic(a, b)
    ok = all(_close(x, y) for x, y in pairs)
    if ok and len(pairs) < len(va):
        ok = sum(x is None for x in va) == sum(y is None for y in vb)  # defined at different points
    return Outcome(ok, method, None if ok else "mismatch")


def compare_equation_sides(lc: str, rc: str, lg: str, rg: str, cache: ExprCache = EXPR_CACHE) -> Outcome:
    """``lc = rc`` and ``lg = rg`` are the same equation up to a non-zero factor: (lc - rc) = k (lg - rg)."""
    pa, pg = cache.get(f"({lc})-({rc})"), cache.get(f"({lg})-({rg})")
    if pa.node is None or pg.node is None:
        return Outcome(False, "none", "parse_error")
    syms = free_symbols(pa.node) | free_symbols(pg.node)
    try:
        va, vg = _values(pa.node, syms), _values(pg.node, syms)
    except (TooLarge, RecursionError):
        return Outcome(False, "numeric", "too_large")
    ratios = []
    for x, y in zip(va, vg):
        if x is None or y is None:
            continue
        if abs(y) < 1e-12:
            if abs(x) > 1e-9:
                return Outcome(False, "symbolic", "mismatch")
            continue
        ratios.append(x / y)
    ok = bool(ratios) and all(_close(r, ratios[0]) for r in ratios) and abs(ratios[0]) > 1e-12
    return Outcome(ok, "symbolic", None if ok else "mismatch")


def as_fraction(text: str) -> Fraction | None:
    """The exact rational value of an expression, or None."""
    p = EXPR_CACHE.get(text)
    if p.node is None:
        return None
    try:
        return exact(p.node)
    except (NotExact, TooLarge, ZeroDivisionError, OverflowError, ValueError):
        return None

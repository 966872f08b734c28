"""Exact (rational) and floating-point evaluation of parsed expressions (see ``_latex.py`` for the nodes).

Each node kind has one small function in each of two dispatch tables. Both evaluators are bounded: powers,
factorials and binomials beyond fixed limits raise :class:`TooLarge` instead of running for a long time.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Callable
from fractions import Fraction

from ._latex import TooLarge

MAX_EXACT_BITS = 20_000
MAX_FACT = 2000


class NotExact(Exception):
    """The expression has no exact rational value (or it is undefined)."""


# ---------------------------------------------------------------- exact rationals

def _iroot(n: int, k: int) -> int | None:
    """The integer k-th root of ``n`` when it is exact, else None."""
    if k <= 0 or k > 64:
        return None
    if n < 0:
        if k % 2 == 0:
            return None
        r = _iroot(-n, k)
        return -r if r is not None else None
    if n < 2:
        return n
    r = round(n ** (1.0 / k)) if n.bit_length() < 1000 else int(math.isqrt(n) if k == 2 else 0)
    for cand in (r - 1, r, r + 1):
        if cand >= 0 and cand ** k == n:
            return cand
    return None


def _ipow(b: Fraction, e: Fraction) -> Fraction:
    """``b ** e`` exactly (a rational exponent only when ``b`` is a perfect power)."""
    if e.denominator != 1:
        num = _iroot(b.numerator, e.denominator)
        den = _iroot(b.denominator, e.denominator)
        if num is None or den is None:
            raise NotExact
        b = Fraction(num, den)
        e = Fraction(e.numerator)
    k = e.numerator
    if b == 0 and k < 0:
        raise NotExact
    if b in (0, 1):
        return b
    if b == -1:
        return Fraction(1 if k % 2 == 0 else -1)
    bits = max(abs(b.numerator).bit_length(), abs(b.denominator).bit_length())
    if abs(k) * bits > MAX_EXACT_BITS:
        raise TooLarge("power too large")
    return b ** k


def _x_num(node, env):
    return node[1]


def _x_sym(node, env):
    if env is not None and node[1] in env:
        return env[node[1]]
    raise NotExact


def _x_add(node, env):
    return sum((exact(c, env) for c in node[1]), Fraction(0))


def _x_mul(node, env):
    r = Fraction(1)
    for c in node[1]:
        r *= exact(c, env)
        if abs(r.numerator).bit_length() > MAX_EXACT_BITS:
            raise TooLarge("number too large")
    return r


def _x_neg(node, env):
    return -exact(node[1], env)


def _x_div(node, env):
    d = exact(node[2], env)
    if d == 0:
        raise NotExact
    return exact(node[1], env) / d


def _x_pow(node, env):
    return _ipow(exact(node[1], env), exact(node[2], env))


def _x_root(node, env):
    n = exact(node[2], env)
    if n.denominator != 1 or n <= 0:
        raise NotExact
    return _ipow(exact(node[1], env), Fraction(1, n.numerator))


def _x_factorial(a: Fraction) -> Fraction:
    if a.denominator != 1 or a < 0:
        raise NotExact
    if a > MAX_FACT:
        raise TooLarge("factorial too large")
    return Fraction(math.factorial(int(a)))


_EXACT_FN: dict[str, Callable[[Fraction], Fraction]] = {
    "abs": abs,
    "fact": _x_factorial,
    "floor": lambda a: Fraction(math.floor(a)),
    "ceil": lambda a: Fraction(math.ceil(a)),
}


def _x_fn(node, env):
    fn = _EXACT_FN.get(node[1])
    if fn is None:
        raise NotExact
    return fn(exact(node[2], env))


def _x_binom(node, env):
    n, k = exact(node[1], env), exact(node[2], env)
    if n.denominator != 1 or k.denominator != 1 or n < 0 or k < 0:
        raise NotExact
    if n > 100_000:
        raise TooLarge("binomial too large")
    return Fraction(math.comb(int(n), int(k)))


_EXACT = {"num": _x_num, "sym": _x_sym, "add": _x_add, "mul": _x_mul, "neg": _x_neg, "div": _x_div,
          "pow": _x_pow, "root": _x_root, "fn": _x_fn, "binom": _x_binom}


def exact(node, env: dict | None = None) -> Fraction:
    """Exact rational value of ``node``; raises :class:`NotExact` when there is none.

    Args:
        node: a parsed expression.
        env: rational values of variables (none by default: a variable makes the value not exact).

    Returns:
        The value as a ``Fraction``.
    """
    handler = _EXACT.get(node[0])
    if handler is None:
        raise NotExact
    return handler(node, env)


# ---------------------------------------------------------------- complex floating point

_CONST = {"pi": math.pi, "e": math.e, "i": 1j}


def _real_int(z: complex) -> int | None:
    if abs(z.imag) > 1e-9 or abs(z.real - round(z.real)) > 1e-9:
        return None
    return int(round(z.real))


def _v_num(node, env):
    return complex(node[1])


def _v_sym(node, env):
    name = node[1]
    if name in env:
        return env[name]
    if name in _CONST:
        return _CONST[name]
    if name == "infty":
        raise NotExact
    raise KeyError(name)


def _v_add(node, env):
    return sum((evaluate(c, env) for c in node[1]), 0j)


def _v_mul(node, env):
    r = 1 + 0j
    for c in node[1]:
        r *= evaluate(c, env)
    return r + 0j


def _v_neg(node, env):
    return -evaluate(node[1], env) + 0j  # no negative zeros (branch cuts)


def _v_div(node, env):
    return evaluate(node[1], env) / evaluate(node[2], env) + 0j


def _odd_root_of_negative(b: complex, e: complex) -> complex | None:
    """(-8)^(1/3) stays real (-2), as a reader means it, instead of the principal complex root."""
    if b.imag != 0 or b.real >= 0 or e.imag != 0:
        return None
    fr = Fraction(e.real).limit_denominator(50)
    if abs(float(fr) - e.real) >= 1e-12 or fr.denominator % 2 == 0:
        return None
    mag = (-b.real) ** e.real
    return complex(-mag if fr.numerator % 2 else mag)


def _v_pow(node, env):
    b = evaluate(node[1], env)
    e = evaluate(node[2], env)
    if abs(e) > 1e4 and abs(b) > 1.0001:
        raise TooLarge("power too large")
    k = _real_int(e)
    if k is not None and abs(b.imag) < 1e-300:
        return complex(b.real ** k) if b.real != 0 or k >= 0 else complex(float("inf"))
    real = _odd_root_of_negative(b, e)
    return real if real is not None else b ** e


def _v_root(node, env):
    a = evaluate(node[1], env)
    n = evaluate(node[2], env)
    k = _real_int(n)
    if k is not None and k % 2 == 1 and a.imag == 0 and a.real < 0:
        return complex(-((-a.real) ** (1.0 / k)))
    if k == 2:
        return cmath.sqrt(a)
    return a ** (1 / n)


def _v_factorial(a: complex) -> complex:
    k = _real_int(a)
    if k is None or k < 0:
        if a.imag:
            raise NotExact
        return complex(math.gamma(a.real + 1))
    if k > 170:
        raise TooLarge("factorial too large")
    return complex(math.factorial(k))


def _v_rounding(fn):
    def apply(a: complex) -> complex:
        if a.imag:
            raise NotExact
        return complex(fn(a.real))
    return apply


_FN = {
    "sin": cmath.sin, "cos": cmath.cos, "tan": cmath.tan,
    "cot": lambda z: 1 / cmath.tan(z), "sec": lambda z: 1 / cmath.cos(z), "csc": lambda z: 1 / cmath.sin(z),
    "arcsin": cmath.asin, "arccos": cmath.acos, "arctan": cmath.atan,
    "sinh": cmath.sinh, "cosh": cmath.cosh, "tanh": cmath.tanh,
    "ln": cmath.log, "log": cmath.log, "exp": cmath.exp,
    "abs": lambda z: complex(abs(z)),
    "fact": _v_factorial, "floor": _v_rounding(math.floor), "ceil": _v_rounding(math.ceil),
}


def _v_fn(node, env):
    fn = _FN.get(node[1])
    if fn is None:
        raise NotExact
    return fn(evaluate(node[2], env))


def _v_log(node, env):
    return cmath.log(evaluate(node[1], env)) / cmath.log(evaluate(node[2], env))


def _v_binom(node, env):
    n = _real_int(evaluate(node[1], env))
    k = _real_int(evaluate(node[2], env))
    if n is None or k is None or n > 10_000:
        raise NotExact
    return complex(math.comb(n, k)) if n >= 0 and k >= 0 else 0j


_VALUE = {"num": _v_num, "sym": _v_sym, "add": _v_add, "mul": _v_mul, "neg": _v_neg, "div": _v_div,
          "pow": _v_pow, "root": _v_root, "fn": _v_fn, "log": _v_log, "binom": _v_binom}


def evaluate(node, env: dict) -> complex:
    """Complex floating-point value of ``node`` at the point ``env``.

    Args:
        node: a parsed expression.
        env: complex values of its variables.

    Returns:
        The value; raises ``ZeroDivisionError``/``OverflowError``/``ValueError``/:class:`NotExact`/``KeyError``
        where it is undefined, and :class:`TooLarge` beyond the size limits.
    """
    handler = _VALUE.get(node[0])
    if handler is None:
        raise NotExact
    return handler(node, env)

"""Exact (rational) and floating-point evaluation of parsed expressions.

Both evaluators are bounded: big powers, factorials and binomials beyond fixed
limits raise :class:`TooLarge` instead of running for a long time.
"""

from __future__ import annotations

import cmath
import math
from fractions import Fraction

from ._latex import TooLarge

MAX_EXACT_BITS = 20_000
MAX_FACT = 2000


class NotExact(Exception):
    pass


def _ipow(b: Fraction, e: Fraction) -> Fraction:
    if e.denominator != 1:
        # exact only when b is a perfect power
        num = _iroot(b.numerator, e.denominator)
        den = _iroot(b.denominator, e.denominator)
        if num is None or den is None:
            raise NotExact
        b = Fraction(num, den)
        e = Fraction(e.numerator)
    k = e.numerator
    if b == 0 and k < 0:
        raise ZeroDivisionError
    if b in (0, 1):
        return b
    if b == -1:
        return Fraction(1 if k % 2 == 0 else -1)
    bits = max(abs(b.numerator).bit_length(), abs(b.denominator).bit_length())
    if abs(k) * bits > MAX_EXACT_BITS:
        raise TooLarge("power too large")
    return b ** k


def _iroot(n: int, k: int) -> int | None:
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


def exact(node) -> Fraction:
    """Evaluate to an exact rational; raises NotExact when that is impossible."""
    tag = node[0]
    if tag == "num":
        return node[1]
    if tag == "add":
        return sum((exact(c) for c in node[1]), Fraction(0))
    if tag == "mul":
        r = Fraction(1)
        for c in node[1]:
            r *= exact(c)
            if abs(r.numerator).bit_length() > MAX_EXACT_BITS:
                raise TooLarge("number too large")
        return r
    if tag == "neg":
        return -exact(node[1])
    if tag == "div":
        d = exact(node[2])
        if d == 0:
            raise NotExact
        return exact(node[1]) / d
    if tag == "pow":
        e = exact(node[2])
        return _ipow(exact(node[1]), e)
    if tag == "root":
        n = exact(node[2])
        if n.denominator != 1 or n <= 0:
            raise NotExact
        return _ipow(exact(node[1]), Fraction(1, n.numerator))
    if tag == "fn":
        name = node[1]
        a = exact(node[2])
        if name == "abs":
            return abs(a)
        if name == "fact":
            if a.denominator != 1 or a < 0:
                raise NotExact
            if a > MAX_FACT:
                raise TooLarge("factorial too large")
            return Fraction(math.factorial(int(a)))
        if name == "floor":
            return Fraction(math.floor(a))
        if name == "ceil":
            return Fraction(math.ceil(a))
        raise NotExact
    if tag == "binom":
        n, k = exact(node[1]), exact(node[2])
        if n.denominator != 1 or k.denominator != 1 or n < 0 or k < 0:
            raise NotExact
        if n > 100_000:
            raise TooLarge("binomial too large")
        return Fraction(math.comb(int(n), int(k)))
    raise NotExact


_CONST = {"pi": math.pi, "e": math.e, "i": 1j}
_FN = {
    "sin": cmath.sin, "cos": cmath.cos, "tan": cmath.tan,
    "cot": lambda z: 1 / cmath.tan(z), "sec": lambda z: 1 / cmath.cos(z), "csc": lambda z: 1 / cmath.sin(z),
    "arcsin": cmath.asin, "arccos": cmath.acos, "arctan": cmath.atan,
    "sinh": cmath.sinh, "cosh": cmath.cosh, "tanh": cmath.tanh,
    "ln": cmath.log, "log": cmath.log, "exp": cmath.exp,
    "abs": lambda z: complex(abs(z)),
}


def _real_int(z: complex) -> int | None:
    if abs(z.imag) > 1e-9 or abs(z.real - round(z.real)) > 1e-9:
        return None
    return int(round(z.real))


def evaluate(node, env: dict) -> complex:
    """Complex floating-point value at the point ``env`` (raises on failure)."""
    tag = node[0]
    if tag == "num":
        return complex(node[1])
    if tag == "sym":
        name = node[1]
        if name in env:
            return env[name]
        if name in _CONST:
            return _CONST[name]
        if name == "infty":
            raise NotExact
        raise KeyError(name)
    if tag == "add":
        return sum((evaluate(c, env) for c in node[1]), 0j)
    if tag == "mul":
        r = 1 + 0j
        for c in node[1]:
            r *= evaluate(c, env)
        return r + 0j
    if tag == "neg":
        return -evaluate(node[1], env) + 0j  # no negative zeros (branch cuts)
    if tag == "div":
        return evaluate(node[1], env) / evaluate(node[2], env) + 0j
    if tag == "pow":
        b = evaluate(node[1], env)
        e = evaluate(node[2], env)
        if abs(e) > 1e4 and abs(b) > 1.0001:
            raise TooLarge("power too large")
        k = _real_int(e)
        if k is not None and abs(b.imag) < 1e-300:
            return complex(b.real ** k) if b.real != 0 or k >= 0 else complex(float("inf"))
        if b.imag == 0 and b.real < 0:
            # real odd root of a negative number (e.g. (-8)^(1/3)) stays real
            f = e.real
            if e.imag == 0:
                fr = Fraction(f).limit_denominator(50)
                if abs(float(fr) - f) < 1e-12 and fr.denominator % 2 == 1:
                    mag = (-b.real) ** f
                    return complex(-mag if fr.numerator % 2 else mag)
        return b ** e
    if tag == "root":
        a = evaluate(node[1], env)
        n = evaluate(node[2], env)
        k = _real_int(n)
        if k is not None and k % 2 == 1 and a.imag == 0 and a.real < 0:
            return complex(-((-a.real) ** (1.0 / k)))
        if k == 2:
            return cmath.sqrt(a)
        return a ** (1 / n)
    if tag == "fn":
        name = node[1]
        a = evaluate(node[2], env)
        if name == "fact":
            k = _real_int(a)
            if k is None or k < 0:
                return complex(math.gamma(a.real + 1)) if a.imag == 0 else _raise()
            if k > 170:
                raise TooLarge("factorial too large")
            return complex(math.factorial(k))
        if name in ("floor", "ceil"):
            if a.imag:
                raise NotExact
            return complex(math.floor(a.real) if name == "floor" else math.ceil(a.real))
        fn = _FN.get(name)
        if fn is None:
            raise NotExact
        return fn(a)
    if tag == "log":
        return cmath.log(evaluate(node[1], env)) / cmath.log(evaluate(node[2], env))
    if tag == "binom":
        n = _real_int(evaluate(node[1], env))
        k = _real_int(evaluate(node[2], env))
        if n is None or k is None or n > 10_000:
            raise NotExact
        return complex(math.comb(n, k)) if n >= 0 and k >= 0 else 0j
    raise NotExact


def _raise():
    raise NotExact

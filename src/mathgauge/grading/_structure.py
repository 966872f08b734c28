"""Normalised answer text -> typed answer tree (:mod:`._tree`).

One small function per shape, tried in order (:data:`_SHAPES`); the first that recognises the text builds the
node. Nothing here evaluates values, except :func:`_linear_interval`, which solves a one-variable linear
inequality exactly to read it as an interval (``-x > -1`` is ``x < 1``).
"""

from __future__ import annotations

import re
from fractions import Fraction

from ._latex import ParseError, TooLarge, free_symbols, parse_expr
from ._numeric import NotExact, exact
from ._tree import (Assignments, Based, Collection, Empty, Equation, Expr, Matrix, Node, Relation, Seq,
                    Union_)

MAX_NESTING = 6


# ---------------------------------------------------------------- splitting helpers

def split_top(s: str, seps: tuple[str, ...]) -> list[str]:
    """Split ``s`` at separators that are outside all brackets (word separators need word boundaries).

    Args:
        s: the text.
        seps: separators, tried in order at each position.

    Returns:
        The stripped parts (``[s]`` when no separator is found).
    """
    if not any(sep in s for sep in seps):
        return [s.strip()]
    parts = []
    depth = last = i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            sep = _separator_at(s, i, seps)
            if sep:
                parts.append(s[last:i])
                i += len(sep)
                last = i
                continue
        i += 1
    parts.append(s[last:])
    return [p.strip() for p in parts]


def _separator_at(s: str, i: int, seps: tuple[str, ...]) -> str | None:
    for sep in seps:
        if s.startswith(sep, i):
            if sep[0].isalpha() or sep.startswith("\\"):
                before = s[i - 1] if i else " "
                j = i + len(sep)
                after = s[j] if j < len(s) else " "
                if (sep[0].isalpha() and before.isalpha()) or after.isalpha():
                    continue
            return sep
    return None


def outer_brackets(s: str) -> tuple[str, str, str] | None:
    """``(open, inner, close)`` when ``s`` is one bracketed group (``(..)``, ``[..)``, ...), else None."""
    if len(s) < 2 or s[0] not in "([" or s[-1] not in ")]":
        return None
    depth = 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0 and i != len(s) - 1:
                return None
    if depth != 0:
        return None
    return s[0], s[1:-1].strip(), s[-1]


# ---------------------------------------------------------------- labels

_NAME = (r"(?:m?\s*\\angle\s*)?(?:[A-Za-z]{1,6}|\\[a-zA-Z]+|\\overline\{[A-Za-z]+\})"
         r"(?:_\{?[\w,]{1,12}\}?)?(?:'|\^\{?-1\}?|\^\{?\*\}?)*(?:\([A-Za-z0-9, ]{1,12}\))?")
_LABEL_RE = re.compile(
    rf"^(?:{_NAME}|\(\s*{_NAME}(?:\s*,\s*{_NAME})+\s*\)|\|\s*{_NAME}\s*\||{_NAME}(?:\s*:\s*{_NAME})+"
    rf"|\\frac\{{{_NAME}\}}\{{{_NAME}\}})$"
)
_SIMPLE_VAR_RE = re.compile(r"^(?:[A-Za-z]|\\[a-z]+)(?:_\{?\w{1,6}\}?)?$")
_NOT_LABELS = {"\\infty", "\\pi", "\\emptyset", "\\varnothing", "e", "i"}


def is_label(side: str) -> bool:
    """A side of an equation that only names the value: ``x``, ``(p,q)``, ``|AB|``, ``S_1:S_2``, ``f(x)``."""
    side = side.strip()
    return side not in _NOT_LABELS and bool(_LABEL_RE.match(side))


# ---------------------------------------------------------------- shapes

_MATRIX_RE = re.compile(r"^\\begin\{([pbBvV]?matrix|array)\}(?:\{[^}]*\})?(.*)\\end\{\1\}$", re.S)
_FLAT_MATRIX_RE = re.compile(r"^pmatrix\s*\((.*)\)$")
_IN_PREFIX_RE = re.compile(r"^(?:[A-Za-z]|\\[a-z]+)(?:_\{?\w{1,6}\}?)?\s*\\in\s*")
_REL_RE = re.compile(r"(\\(?:le(?:q|qslant)?|ge(?:q|qslant)?|lt|gt|neq?)(?![A-Za-z])|<|>)")
_REL_CANON = {
    "\\le": "<=", "\\leq": "<=", "\\leqslant": "<=", "\\ge": ">=", "\\geq": ">=", "\\geqslant": ">=",
    "\\lt": "<", "<": "<", "\\gt": ">", ">": ">", "\\ne": "!=", "\\neq": "!=",
}
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}
_BASE_RE = re.compile(r"^(-?)\s*([0-9A-Za-z]+)_\{?\(?(\d+|[a-z])\)?\}?$")
_LIST_SEPS = (",", ";", "\\text{ or }", " or ", " and ", "\\quad", "\\text{and}", "or")


def _matrix(s: str, depth: int) -> Node | None:
    ob = outer_brackets(s)
    if ob and ob[1].startswith("\\begin{") and _MATRIX_RE.match(ob[1]):
        s = ob[1]  # [\begin{array}{cc}...\end{array}] is the matrix itself
    m = _MATRIX_RE.match(s)
    if m:
        rows = [r for r in split_top(m.group(2).strip(), ("\\\\",)) if r.strip()]
        return Matrix(tuple(tuple(parse_answer(c, depth + 1) for c in split_top(r, ("&",))) for r in rows))
    m = _FLAT_MATRIX_RE.match(s)
    if m:
        return Matrix(tuple((parse_answer(c, depth + 1),) for c in split_top(m.group(1), (",",))))
    return None


def _union(s: str, depth: int) -> Node | None:
    if "\\cup" not in s:
        return None
    parts = split_top(s, ("\\cup",))
    if len(parts) > 1 and all(outer_brackets(p) or (p.startswith("\\{") and p.endswith("\\}")) for p in parts):
        return Union_(tuple(parse_answer(p, depth + 1) for p in parts))
    return None


_SET_BUILDER_RE = re.compile(
    r"^\\\{\s*(?:[A-Za-z]|\\[a-z]+)\s*(?:\\in\s*\\mathbb\s*\{?[RZNQ]\}?\s*)?(?:\\mid|\||:)(.+)\\\}$")


_ALL_REALS_RE = re.compile(r"^(?:all real(?: numbers)?|all reals|the real numbers|\\mathbb\s*\{?R\}?|ℝ)$", re.I)
_EMPTY_SET_RE = re.compile(r"^(?:\\emptyset|\\varnothing|∅|\\\{\s*\\\}|\{\s*\}|\\O|no (?:real )?solutions?|none)$",
                           re.I)


def _named_set(s: str, depth: int) -> Node | None:
    """All real numbers (``\\mathbb{R}``, "all real numbers") is the interval ``(-\\infty, \\infty)``; the empty set
    (``\\emptyset``, ``\\varnothing``, ``\\{\\}``, "no solution") is a set without items."""
    if _ALL_REALS_RE.match(s):
        return Seq("(", ")", (Expr("-\\infty"), Expr("\\infty")))
    if _EMPTY_SET_RE.match(s):
        return Collection((), True)
    return None


def _set_builder(s: str, depth: int) -> Node | None:
    """``\\{x \\mid x > 2\\}`` is its condition (an interval when it is one)."""
    m = _SET_BUILDER_RE.match(s)
    return parse_answer(m.group(1), depth + 1) if m and _REL_RE.search(m.group(1)) else None


def _braced_set(s: str, depth: int) -> Node | None:
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2]
    elif s.startswith("{") and s.endswith("}") and len(split_top(s[1:-1], (",", ";"))) > 1:
        inner = s[1:-1]  # bare braces written for a set: {1, 2, 3}
    else:
        return None
    if split_top(inner, ("\\}",)) != [inner.strip()]:
        return None  # \{1\} \cup \{2\}: not one set
    return Collection(tuple(parse_answer(p, depth + 1) for p in split_top(inner, (",", ";")) if p), True)


_SPACED_NUMBERS_RE = re.compile(r"-?\d+(?:\.\d+)?(?:\s+-?\d+(?:\.\d+)?)+")


def _list(s: str, depth: int) -> Node | None:
    if _SPACED_NUMBERS_RE.fullmatch(s):
        # "5 4.6": numbers side by side are a list, never a product (thousands groups were joined before)
        return Collection(tuple(Expr(n) for n in s.split()))
    groups = split_top(s, (";",))
    if len(groups) > 1 and any(len(split_top(g, (",",))) > 1 for g in groups):
        # "p=5,q=2; p=7,q=2": semicolons separate solutions whose parts are separated by commas
        return Collection(tuple(parse_answer(g, depth + 1) for g in groups if g))
    parts = [p for p in split_top(s, _LIST_SEPS) if p]
    if len(parts) < 2:
        return None
    items = tuple(parse_answer(p, depth + 1) for p in parts)
    return _assignments(items) or _inequality_union(s, parts, items) or Collection(items)


_ONE_LETTER_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z](?![A-Za-z])")


def _inequality_union(s: str, parts: list[str], items: tuple[Node, ...]) -> Node | None:
    """``x < -1 or x > 2`` (inequalities in one variable, not joined by "and") is the union of their intervals."""
    if not all(isinstance(it, Seq) and _REL_RE.search(p) for p, it in zip(parts, items)):
        return None
    names = {frozenset(_ONE_LETTER_RE.findall(p)) for p in parts}
    if len(names) != 1 or len(next(iter(names))) != 1:
        return None
    if " and " in s or "\\text{and}" in s:
        return _intersection(items)  # "x > 3 and x \\le 5" is (3, 5]
    return Union_(items)


def _intersection(items: tuple[Node, ...]) -> Node | None:
    """A lower bound and an upper bound of one variable: the interval between them."""
    if len(items) != 2:
        return None
    lower = [it for it in items if isinstance(it, Seq) and it.items[1] == Expr("\\infty")]
    upper = [it for it in items if isinstance(it, Seq) and it.items[0] == Expr("-\\infty")]
    if len(lower) != 1 or len(upper) != 1:
        return None
    return Seq(lower[0].open, upper[0].close, (lower[0].items[0], upper[0].items[1]))


def _assignments(items: tuple[Node, ...]) -> Node | None:
    """Equations ``name = value`` with distinct simple names are one labelled tuple."""
    equations = [it for it in items if isinstance(it, Equation)]
    if len(equations) != len(items) or not all(len(e.sides) == 2 and _SIMPLE_VAR_RE.match(e.sides[0])
                                               for e in equations):
        return None
    names = tuple(e.sides[0].replace(" ", "") for e in equations)
    if len(set(names)) != len(names):
        return None  # x = 1, x = -2: several solutions for one variable
    return Assignments(names, tuple(e.value for e in equations))


def _bracketed(s: str, depth: int) -> Node | None:
    ob = outer_brackets(s)
    if not ob:
        return None
    o, inner, c = ob
    items = split_top(inner, (",",))
    if len(items) == 1:
        items = split_top(inner, (";",))  # semicolon tuples: (0;2;0)
    if len(items) < 2:
        return None
    return Seq(o, c, tuple(parse_answer(p, depth + 1) for p in items))


def _in_prefix(s: str, depth: int) -> Node | None:
    m = _IN_PREFIX_RE.match(s)
    return parse_answer(s[m.end():], depth + 1) if m else None


_PM_RE = re.compile(r"\\(?:pm|mp)(?![A-Za-z])")


def _plus_minus(s: str, depth: int) -> Node | None:
    """One ``\\pm``/``\\mp`` anywhere is the two values it stands for: ``3 \\pm 2\\sqrt2``, and nested ones such
    as the quadratic formula ``\\frac{-1 \\pm \\sqrt{5}}{2}``."""
    m = _PM_RE.search(s)
    if m is None or _PM_RE.search(s, m.end()):
        return None
    first, second = ("+", "-") if m.group(0) == "\\pm" else ("-", "+")
    head, tail = s[:m.start()], s[m.end():].strip()
    if not tail:
        return None
    return Collection((Expr(f"{head}{first}{tail}".strip()), Expr(f"{head}{second}{tail}".strip())))


def _approx(s: str, depth: int) -> Node | None:
    """``exact \\approx decimal`` is its exact side; ``x \\approx 600`` is 600."""
    if "\\approx" not in s:
        return None
    parts = [p for p in split_top(s, ("\\approx",)) if p]
    if not parts:
        return Empty()
    first = parts[0]
    if len(parts) > 1 and is_label(first):
        return parse_answer(parts[-1], depth + 1)
    return parse_answer(first, depth + 1)


def _equation(s: str, depth: int) -> Node | None:
    sides = [p for p in split_top(s, ("=", "\\equiv")) if p]
    if len(sides) < 2:
        return None
    first_label, last_label = is_label(sides[0]), is_label(sides[-1])
    value = sides[0] if last_label and not first_label else sides[-1]
    return Equation(tuple(sides), parse_answer(value, depth + 1), first_label or last_label)


def _relation(s: str, depth: int) -> Node | None:
    if not _REL_RE.search(s):
        return None
    parts = [p.strip() for p in _REL_RE.split(s)]
    if len(parts) == 3 and parts[0] and parts[2]:
        op = _REL_CANON.get(parts[1], parts[1])
        return _one_sided(parts[0], op, parts[2]) or Relation(op, parts[0], parts[2])
    if len(parts) == 5 and all(parts[::2]):
        return _two_sided(parts)
    return None


def _one_sided(lhs: str, op: str, rhs: str) -> Node | None:
    """``x > 3`` -> ``(3, \\infty)``; a linear inequality in one variable is solved first."""
    if op == "!=":
        return None
    if not _SIMPLE_VAR_RE.match(lhs):
        if _SIMPLE_VAR_RE.match(rhs):
            lhs, rhs, op = rhs, lhs, _FLIP[op]
        else:
            solved = _linear_interval(lhs, op, rhs)
            if solved is None:
                return None
            rhs, op = solved
    if op in (">", ">="):
        return Seq("(" if op == ">" else "[", ")", (Expr(rhs), Expr("\\infty")))
    return Seq("(", ")" if op == "<" else "]", (Expr("-\\infty"), Expr(rhs)))


def _two_sided(parts: list[str]) -> Node | None:
    """``a < x < b`` and ``a < f(x) < b`` are the interval ``(a, b)`` (brackets from the relations)."""
    lo, o1, mid, o2, hi = parts
    o1, o2 = _REL_CANON.get(o1, o1), _REL_CANON.get(o2, o2)
    if not re.search(r"[A-Za-z]", mid.replace("\\infty", "")):
        return None
    if o1 in ("<", "<=") and o2 in ("<", "<="):
        return Seq("(" if o1 == "<" else "[", ")" if o2 == "<" else "]", (Expr(lo), Expr(hi)))
    if o1 in (">", ">=") and o2 in (">", ">="):
        return Seq("(" if o2 == ">" else "[", ")" if o1 == ">" else "]", (Expr(hi), Expr(lo)))
    return None


def _linear_interval(lhs: str, op: str, rhs: str) -> tuple[str, str] | None:
    """Solve ``a x + b op c x + d`` for its one variable: ``(bound, op)`` with ``x op bound``, exactly."""
    try:
        node = parse_expr(f"({lhs})-({rhs})")
        syms = free_symbols(node)
        if len(syms) != 1:
            return None
        (name,) = syms
        f0, f1, f2 = (exact(node, {name: Fraction(k)}) for k in (0, 1, 2))
    except (ParseError, TooLarge, NotExact, ZeroDivisionError, ValueError, RecursionError):
        return None
    slope = f1 - f0
    if slope == 0 or f2 - f1 != slope:
        return None  # constant or not linear
    bound = -f0 / slope
    text = str(bound.numerator) if bound.denominator == 1 else f"\\frac{{{bound.numerator}}}{{{bound.denominator}}}"
    return text, op if slope > 0 else _FLIP[op]


def _based(s: str, depth: int) -> Node | None:
    m = _BASE_RE.match(s)
    if m and not m.group(2).isalpha():
        return Based(m.group(1), m.group(2).upper(), m.group(3))
    return None


# ``_equation`` before ``_plus_minus``: ``x = \\pm 1`` is the equation whose value is the two numbers.
_SHAPES = (_named_set, _matrix, _union, _set_builder, _braced_set, _list, _bracketed, _in_prefix, _approx, _equation,
           _plus_minus, _relation, _based)


def parse_answer(s: str, depth: int = 0) -> Node:
    """Build the answer tree of a normalised answer.

    Args:
        s: normalised answer text.
        depth: nesting level (internal; bounded by :data:`MAX_NESTING`).

    Returns:
        The tree; :class:`Expr` when no structure is recognised. Raises :class:`TooLarge` when nested too deeply.
    """
    s = s.strip()
    if depth > MAX_NESTING:
        raise TooLarge("answer nested too deeply")
    if not s:
        return Empty()
    for shape in _SHAPES:
        node = shape(s, depth)
        if node is not None:
            return node
    return Expr(s)

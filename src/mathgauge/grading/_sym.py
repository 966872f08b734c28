"""sympy comparison, run inside a worker process (see ``_pool.py``).

Expressions are built node by node from this package's own parse tree; text is
never handed to ``sympify``/``parse_expr``.
"""

from __future__ import annotations

from ._latex import parse_expr


def to_sympy(node):
    import sympy as sp

    tag = node[0]
    if tag == "num":
        return sp.Rational(node[1].numerator, node[1].denominator)
    if tag == "sym":
        name = node[1]
        if name == "pi":
            return sp.pi
        if name == "e":
            return sp.E
        if name == "i":
            return sp.I
        if name == "infty":
            return sp.oo
        return sp.Symbol(name)
    if tag == "add":
        return sp.Add(*[to_sympy(c) for c in node[1]])
    if tag == "mul":
        return sp.Mul(*[to_sympy(c) for c in node[1]])
    if tag == "neg":
        return -to_sympy(node[1])
    if tag == "div":
        return to_sympy(node[1]) / to_sympy(node[2])
    if tag == "pow":
        return sp.Pow(to_sympy(node[1]), to_sympy(node[2]))
    if tag == "root":
        return sp.root(to_sympy(node[1]), to_sympy(node[2]))
    if tag == "log":
        return sp.log(to_sympy(node[1]), to_sympy(node[2]))
    if tag == "binom":
        return sp.binomial(to_sympy(node[1]), to_sympy(node[2]))
    if tag == "fn":
        name = node[1]
        a = to_sympy(node[2])
        fns = {
            "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "cot": sp.cot, "sec": sp.sec, "csc": sp.csc,
            "arcsin": sp.asin, "arccos": sp.acos, "arctan": sp.atan, "sinh": sp.sinh, "cosh": sp.cosh,
            "tanh": sp.tanh, "ln": sp.log, "log": sp.log, "exp": sp.exp, "abs": sp.Abs,
            "floor": sp.floor, "ceil": sp.ceiling, "fact": sp.factorial,
        }
        if name in fns:
            return fns[name](a)
        return sp.Function(name)(a)
    raise ValueError(f"unsupported node {tag}")


def sympy_equal(a: str, b: str) -> tuple[bool, str | None]:
    """(equal?, failure reason) for two answer texts."""
    import sympy as sp

    try:
        ea = to_sympy(parse_expr(a))
        eb = to_sympy(parse_expr(b))
    except Exception:
        return False, "parse_error"
    if ea.has(sp.zoo, sp.nan) or eb.has(sp.zoo, sp.nan):
        return False, "mismatch"  # undefined values are never equal
    diff = ea - eb
    try:
        if diff == 0 or sp.simplify(diff) == 0:
            return True, None
        eq = ea.equals(eb)
        return bool(eq), None if eq else "mismatch"
    except Exception:
        return False, "parse_error"


def worker_main(conn) -> None:  # pragma: no cover - runs in the child process
    import sympy  # noqa: F401  (warm up)

    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        a, b = msg
        try:
            conn.send(sympy_equal(a, b))
        except Exception:
            conn.send((False, "parse_error"))

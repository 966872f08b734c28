"""A small, safe recursive-descent parser for LaTeX / plain-text math answers.

It builds a tuple-based expression tree and never evaluates text as code.
Nodes:
    ("num", Fraction)        exact literal (integers and terminating decimals)
    ("sym", name)            variable or constant: "pi", "e", "i", "infty", "x", "x_1", ...
    ("add", (a, b, ...))     sum
    ("mul", (a, b, ...))     product
    ("neg", a)
    ("div", a, b)
    ("pow", a, b)
    ("root", a, n)           n-th root (n a node)
    ("fn", name, a)          sin, cos, ln, log (base e), abs, floor, ceil, fact, ...
    ("log", a, base)         logarithm to a base
    ("binom", a, b)

Inputs are bounded (length, nesting depth, number size) so parsing is linear and
cannot blow up; violations raise :class:`TooLarge`, syntax problems :class:`ParseError`.
"""

from __future__ import annotations

import re
from fractions import Fraction

from ._limits import MAX_ANSWER_CHARS

MAX_EXPR_CHARS = MAX_ANSWER_CHARS  # one expression is at most one answer
MAX_DIGITS = 400
MAX_DEPTH = 60


class ParseError(ValueError):
    pass


class TooLarge(ValueError):
    pass


_TOKEN_RE = re.compile(
    r"""
    (?P<num>\d+(?:\.\d+)?|\.\d+)
   |(?P<cmd>\\[A-Za-z]+|\\[{}|])
   |(?P<word>[A-Za-z]+)
   |(?P<op>\*\*|[-+*/^_=(){}\[\],|!']|<=|>=|<|>)
   |(?P<ws>\s+)
    """,
    re.VERBOSE,
)

FUNCS = {
    "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "ln", "log", "exp", "sqrt", "abs", "floor", "ceil", "gcd", "lcm", "det",
}
CONSTS = {"pi", "infty", "infinity", "inf"}
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
    "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi",
    "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega",
}
_IGNORED_CMDS = {"left", "right", "displaystyle", "mathrm", "mathbf", "mathit", "bigl", "bigr", "Bigl",
                 "Bigr", "big", "Big", "limits", "quad", "qquad", "bf", "rm"}


def tokenize(s: str) -> list[tuple[str, str]]:
    if len(s) > MAX_EXPR_CHARS:
        raise TooLarge("expression too long")
    out: list[tuple[str, str]] = []
    pos = 0
    n = len(s)
    while pos < n:
        m = _TOKEN_RE.match(s, pos)
        if m is None:
            raise ParseError(f"unexpected character {s[pos]!r}")
        pos = m.end()
        kind = m.lastgroup or ""  # every alternative of the pattern is a named group
        val = m.group(0)
        if kind == "ws":
            continue
        if kind == "num":
            if len(val) > MAX_DIGITS:
                raise TooLarge("number too long")
            if out and out[-1][0] == "num" and (len(out) < 2 or out[-2][0] != "cmd" and out[-2][1] not in "^_"):
                # "11 7/6", "4 5": numbers side by side are never a product (a mixed number is read before)
                raise ParseError("two numbers side by side")
        elif kind == "cmd":
            name = val[1:]
            if name in _IGNORED_CMDS:
                continue
            if name in ("{", "}"):
                kind, val = "op", name
            elif name == "|":
                kind, val = "op", "|"
        elif kind == "word":
            low = val
            if low in FUNCS or low in CONSTS:
                kind = "cmd"
                val = "\\" + low
            else:
                # a run of letters is a product of one-letter variables
                for ch in val:
                    out.append(("word", ch))
                continue
        out.append((kind, val))
    return out


_PRIMARY_START_OPS = {"(", "{", "[", "|"}
_NON_PRIMARY_CMDS = {
    "\\cdot", "\\times", "\\div", "\\pm", "\\mp", "\\rfloor", "\\rceil", "\\rvert", "\\vert",
    "\\le", "\\leq", "\\ge", "\\geq", "\\lt", "\\gt", "\\ne", "\\neq",
}


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.t = tokens
        self.i = 0
        self.depth = 0
        self.abs_open = 0

    # helpers
    def peek(self, k: int = 0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else (None, None)

    def next(self):
        tok = self.peek()
        self.i += 1
        return tok

    def accept(self, val: str) -> bool:
        if self.peek()[1] == val:
            self.i += 1
            return True
        return False

    def expect(self, val: str):
        if not self.accept(val):
            raise ParseError(f"expected {val!r} at token {self.i}")

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TooLarge("expression nested too deeply")

    # grammar
    def parse(self):
        node = self.expr()
        if self.i != len(self.t):
            raise ParseError(f"unexpected token {self.peek()[1]!r}")
        return node

    def expr(self):
        self.enter()
        terms = [self.term()]
        while True:
            v = self.peek()[1]
            if v == "+":
                self.i += 1
                terms.append(self.term())
            elif v == "-":
                self.i += 1
                terms.append(("neg", self.term()))
            else:
                break
        self.depth -= 1
        return terms[0] if len(terms) == 1 else ("add", tuple(terms))

    def _starts_primary(self) -> bool:
        kind, val = self.peek()
        if kind is None:
            return False
        if kind in ("num", "word"):
            return True
        if kind == "cmd":
            return val not in _NON_PRIMARY_CMDS
        if val in ("(", "{", "["):
            return True
        if val == "|":
            return self.abs_open == 0
        return False

    def term(self):
        factors = [self.unary()]
        while True:
            v = self.peek()[1]
            if v in ("*", "\\cdot", "\\times", "**"):
                if v == "**":
                    raise ParseError("'**' power syntax")
                self.i += 1
                factors.append(self.unary())
            elif v in ("/", "\\div"):
                self.i += 1
                den = self.unary()
                num = factors[0] if len(factors) == 1 else ("mul", tuple(factors))
                factors = [("div", num, den)]
            elif self._starts_primary():
                factors.append(self.power())
            else:
                break
        return factors[0] if len(factors) == 1 else ("mul", tuple(factors))

    def unary(self):
        v = self.peek()[1]
        if v == "-":
            self.i += 1
            return ("neg", self.unary())
        if v == "+":
            self.i += 1
            return self.unary()
        return self.power()

    def power(self):
        self.enter()
        base = self.postfix()
        if self.accept("^"):
            exp = self.exponent()
            base = ("pow", base, exp)
            while self.peek()[1] == "!":
                self.i += 1
                base = ("fn", "fact", base)
        self.depth -= 1
        return base

    def exponent(self):
        kind, val = self.peek()
        if val == "{":
            self.i += 1
            e = self.expr()
            self.expect("}")
            return e
        if val in ("-", "+"):
            self.i += 1
            e = self.exponent()
            return ("neg", e) if val == "-" else e
        if kind == "num":
            self.i += 1
            # ^23 in LaTeX means ^2 followed by 3; keep only the first digit
            if len(val) > 1 and "." not in val:
                self.t.insert(self.i, ("num", val[1:]))
                val = val[0]
            return ("num", Fraction(val))
        return self.postfix()

    def postfix(self):
        node = self.primary()
        while True:
            v = self.peek()[1]
            if v == "!":
                self.i += 1
                node = ("fn", "fact", node)
            elif v == "'":
                raise ParseError("prime notation")
            else:
                break
        return node

    def group_arg(self):
        """A LaTeX argument: {...} or a single token."""
        kind, val = self.peek()
        if val == "{":
            self.i += 1
            e = self.expr()
            self.expect("}")
            return e
        if kind == "num":
            self.i += 1
            if "." in val:
                return ("num", Fraction(val))
            # \frac12 : one digit per argument
            if len(val) > 1:
                self.t.insert(self.i, ("num", val[1:]))
            return ("num", Fraction(val[0]))
        if kind == "word":
            self.i += 1
            return ("sym", val)
        if kind == "cmd":
            return self.primary()
        raise ParseError("missing argument")

    def primary(self):
        self.enter()
        try:
            return self._primary()
        finally:
            self.depth -= 1

    def _primary(self):
        kind, val = self.next()
        if kind is None:
            raise ParseError("unexpected end")
        if kind == "num":
            return ("num", Fraction(val))
        if kind == "word":
            return self._symbol(val)
        if val in _CLOSERS:
            e = self.expr()
            self.expect(_CLOSERS[val])
            return e
        if val == "|":
            self.abs_open += 1
            e = self.expr()
            self.abs_open -= 1
            self.expect("|")
            return ("fn", "abs", e)
        if kind == "cmd":
            return self._command(val[1:])
        raise ParseError(f"unexpected token {val!r}")

    def _symbol(self, name: str):
        """A variable, with its subscript: ``x``, ``x_1``, ``a_{12}``."""
        if self.peek()[1] != "_":
            return ("sym", name)
        self.i += 1
        sub = self.peek()
        if sub[1] != "{":
            self.i += 1
            return ("sym", f"{name}_{sub[1]}")
        self.i += 1
        parts = []
        while self.peek()[1] not in ("}", None):
            parts.append(self.next()[1])
        self.expect("}")
        return ("sym", name + "_" + "".join(parts))

    def _command(self, name: str):
        handler = _COMMANDS.get(name)
        if handler is not None:
            return handler(self, name)
        if name in _GREEK:
            return ("sym", name)
        if name in FUNCS:
            return self.function(name)
        raise ParseError(f"unknown command \\{name}")

    def _two_args(self, name: str):
        a = self.group_arg()
        b = self.group_arg()
        return ("div", a, b) if name in ("frac", "cfrac") else ("binom", a, b)

    def _sqrt(self, name: str):
        n = None
        if self.accept("["):
            n = self.expr()
            self.expect("]")
        a = self.primary() if self.peek()[1] == "(" else self.group_arg()
        return ("root", a, n if n is not None else ("num", Fraction(2)))

    def _constant(self, name: str):
        return ("sym", "pi" if name == "pi" else "infty")

    def _floor_ceil(self, name: str):
        e = self.expr()
        self.expect("\\r" + name[2:])
        return ("fn", name[1:], e)

    def _abs_bars(self, name: str):
        e = self.expr()
        if not (self.accept("\\rvert") or self.accept("\\vert")):
            raise ParseError("unclosed |")
        return ("fn", "abs", e)

    def function(self, name: str):
        power = None
        base = None
        if name == "log" and self.accept("_"):
            base = self.group_arg()
        if self.accept("^"):
            power = self.exponent()
        if name == "log" and base is None and self.accept("_"):
            base = self.group_arg()
        if self.peek()[1] in ("(", "{", "["):
            arg = self.primary()
        else:
            # \sin 2x : implicit product of following powers
            parts = [self.power()]
            while self.peek()[0] in ("num", "word") or (
                self.peek()[0] == "cmd" and self.peek()[1] in ("\\pi",)
            ):
                parts.append(self.power())
            arg = parts[0] if len(parts) == 1 else ("mul", tuple(parts))
        if name == "sqrt":
            node = ("root", arg, ("num", Fraction(2)))
        elif name == "exp":
            node = ("pow", ("sym", "e"), arg)
        elif base is not None:
            node = ("log", arg, base)
        else:
            node = ("fn", name, arg)
        if power is not None:
            if name in ("sin", "cos", "tan", "cot", "sec", "csc") and power == ("neg", ("num", Fraction(1))):
                node = ("fn", "arc" + name, arg)
            else:
                node = ("pow", node, power)
        return node


_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_COMMANDS = {
    "frac": _Parser._two_args, "cfrac": _Parser._two_args, "binom": _Parser._two_args, "choose": _Parser._two_args,
    "sqrt": _Parser._sqrt, "pi": _Parser._constant, "infty": _Parser._constant, "infinity": _Parser._constant,
    "inf": _Parser._constant, "lfloor": _Parser._floor_ceil, "lceil": _Parser._floor_ceil,
    "lvert": _Parser._abs_bars, "vert": _Parser._abs_bars,
}


def parse_expr(s: str):
    """Parse one expression; raises ParseError / TooLarge."""
    tokens = tokenize(s)
    if not tokens:
        raise ParseError("empty")
    return _Parser(tokens).parse()


def free_symbols(node, acc: set | None = None) -> set:
    if acc is None:
        acc = set()
    tag = node[0]
    if tag == "sym":
        if node[1] not in ("pi", "e", "i", "infty"):
            acc.add(node[1])
    elif tag == "num":
        pass
    elif tag in ("add", "mul"):
        for c in node[1]:
            free_symbols(c, acc)
    elif tag == "fn":
        free_symbols(node[2], acc)
    else:
        for c in node[1:]:
            if isinstance(c, tuple):
                free_symbols(c, acc)
    return acc

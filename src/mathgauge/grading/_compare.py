"""Equivalence of two bare answers (see the package docstring for the policy).

Order of checks: normalised strings, word answers, multiple-choice letters,
structure (matrices, tuples/intervals, sets, unions, ``\\pm``, equations,
relations, base subscripts), then exact rational arithmetic, then evaluation of
both sides (at fixed points for any variables) with a 1e-10 relative tolerance,
and finally sympy (in a worker process) for what the evaluator cannot decide.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from ._latex import ParseError, TooLarge, free_symbols, parse_expr
from ._normalize import basic_normalize, strip_units, text_key
from ._numeric import NotExact, evaluate, exact

REL_TOL = 1e-10
MAX_ANSWER_CHARS = 1000

_POINTS = (0.7312659, 1.3719287, 2.2136197, 0.4161473)  # where expressions with variables are compared


class Timeout(Exception):
    pass


class NeedSymbolic(Exception):
    """The cheap checks could not decide; sympy should try."""

    def __init__(self, a: str, b: str):
        super().__init__(a, b)
        self.a = a
        self.b = b


@dataclass
class Outcome:
    correct: bool
    method: str
    reason: str | None


# ---------------------------------------------------------------- splitting helpers

_OPEN = {"(": ")", "[": "]", "{": "}"}


def split_top(s: str, seps: tuple[str, ...]) -> list[str]:
    """Split at separators that are outside all brackets."""
    if not any(sep in s for sep in seps):
        return [s.strip()]
    parts = []
    depth = 0
    last = 0
    i = 0
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
            for sep in seps:
                if s.startswith(sep, i):
                    if sep[0].isalpha() or sep.startswith("\\"):
                        # word separators need boundaries
                        before = s[i - 1] if i else " "
                        after = s[i + len(sep)] if i + len(sep) < n else " "
                        if (sep[0].isalpha() and before.isalpha()) or after.isalpha():
                            continue
                    parts.append(s[last:i])
                    i += len(sep)
                    last = i
                    break
            else:
                i += 1
                continue
            continue
        i += 1
    parts.append(s[last:])
    return [p.strip() for p in parts]


def _outer_brackets(s: str) -> tuple[str, str, str] | None:
    """If ``s`` is one bracketed group (``(..)``, ``[..)``...), return (open, inner, close)."""
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


_MATRIX_RE = re.compile(r"^\\begin\{([pbBvV]?matrix|array)\}(?:\{[^}]*\})?(.*)\\end\{\1\}$", re.S)
_VAR_PREFIX_RE = re.compile(
    r"^(?:[A-Za-z](?:_\{?\w+\}?)?|\\[a-z]+|[A-Za-z](?:\^\{?-1\}?)?\s*\([A-Za-z0-9]\)|\\angle\s*[A-Z]+|[A-Z]{1,3})\s*=(?!=)"
)
_IN_PREFIX_RE = re.compile(r"^[A-Za-z]\s*\\in\s*")
_REL_RE = re.compile(r"(\\le(?:q|qslant)?|\\ge(?:q|qslant)?|\\lt|\\gt|<=|>=|<|>|\\neq?)(?![a-z])")
_BASE_RE = re.compile(r"^([0-9A-Za-z]+)_\{?\(?(\d+|[a-z])\)?\}?$")
_NEGATION_RE = re.compile(r"\b(?:not|neither|nor|no|never|isn't|aren't|cannot)\b", re.I)
_WORDS_ONLY_RE = re.compile(r"^[A-Za-z][A-Za-z ]*$")
_WORDLIKE_RE = re.compile(r"^[A-Za-z0-9 .,:;'()\-]*[A-Za-z]{2}[A-Za-z0-9 .,:;'()\-]*$")


def _wordlike(s: str) -> bool:
    """Plain words (no LaTeX, no operators): compared loosely as text."""
    return bool(_WORDLIKE_RE.match(s))
_CHOICE_RE = re.compile(r"^\(?([A-E])\)?$")
_CHOICE_ANS_RE = re.compile(r"^\(?([A-E])(?:\)|$|\s|\.|:)")


# ---------------------------------------------------------------- structure

def structure(s: str, depth: int = 0):
    """Turn a normalised answer into a nested structure of tagged tuples."""
    s = s.strip()
    if depth > 6:
        raise TooLarge("answer nested too deeply")
    if not s:
        return ("empty",)
    m = _MATRIX_RE.match(s)
    if m:
        body = m.group(2).strip()
        rows = [r for r in split_top(body, ("\\\\",)) if r.strip() or False]
        cells = [tuple(structure(c, depth + 1) for c in split_top(r, ("&",))) for r in rows]
        return ("matrix", tuple(cells))
    m = re.match(r"^pmatrix\s*\((.*)\)$", s)
    if m:
        items = split_top(m.group(1), (",",))
        return ("matrix", tuple((structure(c, depth + 1),) for c in items))
    parts = split_top(s, ("\\cup", "\\text{ or }", " or ", " and ", ";"))
    if len(parts) > 1 and "\\cup" in s and all(_outer_brackets(p) for p in parts):
        return ("union", tuple(structure(p, depth + 1) for p in parts))
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2]
        return ("set", tuple(structure(p, depth + 1) for p in split_top(inner, (",", ";"))))
    parts = split_top(s, (",", ";", "\\text{ or }", " or ", " and ", "\\quad", "\\text{and}"))
    parts = [p for p in parts if p]
    if len(parts) > 1:
        return ("set", tuple(structure(p, depth + 1) for p in parts))
    ob = _outer_brackets(s)
    if ob:
        o, inner, c = ob
        items = split_top(inner, (",",))
        if len(items) > 1:
            return ("seq", o, c, tuple(structure(p, depth + 1) for p in items))
    m = _IN_PREFIX_RE.match(s)
    if m:
        return structure(s[m.end():], depth + 1)
    # +- expands to a set of two values
    pm = split_top(s, ("\\pm", "\\mp"))
    if len(pm) == 2 and pm[1]:
        a, b = pm
        if a:
            return ("set", (("expr", f"{a}+({b})"), ("expr", f"{a}-({b})")))
        return ("set", (("expr", f"{b}"), ("expr", f"-({b})")))
    eq = split_top(s, ("=", "\\approx", "\\equiv"))
    if len(eq) > 1:
        return ("eq", eq[0], eq[-1], len(eq))
    rel = _REL_RE.search(s)
    if rel:
        parts = [p.strip() for p in _REL_RE.split(s)]
        if len(parts) == 3:
            op = _REL_CANON.get(parts[1], parts[1])
            iv = _rel_interval(parts[0], op, parts[2])
            if iv is not None:
                return iv
            return ("rel", op, parts[0], parts[2])
        if len(parts) == 5 and re.fullmatch(r"[A-Za-z]", parts[2]):
            o1, o2 = _REL_CANON.get(parts[1], parts[1]), _REL_CANON.get(parts[3], parts[3])
            if o1 in ("<", "<=") and o2 in ("<", "<="):
                return ("seq", "(" if o1 == "<" else "[", ")" if o2 == "<" else "]",
                        (("expr", parts[0]), ("expr", parts[4])))
            if o1 in (">", ">=") and o2 in (">", ">="):
                return ("seq", "(" if o2 == ">" else "[", ")" if o1 == ">" else "]",
                        (("expr", parts[4]), ("expr", parts[0])))
    mb = _BASE_RE.match(s)
    if mb and not mb.group(1).isalpha():
        return ("base", mb.group(1).upper(), mb.group(2))
    return ("expr", s)


def _rel_interval(lhs: str, op: str, rhs: str):
    """``x > 3`` -> the interval ``(3, \\infty)`` (a single-letter variable on one side)."""
    if op == "!=":
        return None
    if not re.fullmatch(r"[A-Za-z]", lhs):
        if re.fullmatch(r"[A-Za-z]", rhs):
            lhs, rhs = rhs, lhs
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}[op]
        else:
            return None
    if op in (">", ">="):
        return ("seq", "(" if op == ">" else "[", ")", (("expr", rhs), ("expr", "\\infty")))
    return ("seq", "(", ")" if op == "<" else "]", (("expr", "-\\infty"), ("expr", rhs)))


_REL_CANON = {
    "\\le": "<=", "\\leq": "<=", "\\leqslant": "<=", "<=": "<=", "\\ge": ">=", "\\geq": ">=",
    "\\geqslant": ">=", ">=": ">=", "\\lt": "<", "<": "<", "\\gt": ">", ">": ">", "\\ne": "!=", "\\neq": "!=",
}


# ---------------------------------------------------------------- expressions

_OVERLINE_RE = re.compile(r"(\d*)\.(\d*)\\overline\{(\d{1,12})\}")


def _repeating(m: re.Match) -> str:
    whole, fixed, rep = m.group(1) or "0", m.group(2), m.group(3)
    num = int(whole + fixed + rep) - int(whole + fixed)
    den = int("9" * len(rep) + "0" * len(fixed))
    return f"({num}/{den})"


class ExprCache:
    """Parsed expressions keyed by text (thread-safe enough: dict ops are atomic)."""

    def __init__(self, maxsize: int = 50_000):
        self.d: dict = {}
        self.maxsize = maxsize

    def get(self, s: str):
        hit = self.d.get(s)
        if hit is not None:
            return hit
        try:
            node = ("ok", parse_expr(_OVERLINE_RE.sub(_repeating, _mixed_number(s))))
        except TooLarge as exc:
            node = ("too_large", str(exc))
        except (ParseError, RecursionError, ValueError, ZeroDivisionError) as exc:
            node = ("parse_error", str(exc))
        if len(self.d) < self.maxsize:
            self.d[s] = node
        return node


_MIXED_RE = re.compile(r"^(-?)(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$")


def _mixed_number(s: str) -> str:
    m = _MIXED_RE.match(s.strip())
    if m and int(m.group(3)) < int(m.group(4)):
        sign, w, a, b = m.groups()
        return f"{sign}({w}+{a}/{b})"
    return s


_EXPR_CACHE = ExprCache()


def _values(node, syms):
    """Values of ``node`` at the fixed evaluation points (None where undefined)."""
    out = []
    for k in range(len(_POINTS)):
        env = {name: complex(_POINTS[(k + j) % len(_POINTS)] + 0.1 * j) for j, name in enumerate(sorted(syms))}
        try:
            v = evaluate(node, env)
            if v != v or abs(v) == float("inf"):
                v = None
        except (ZeroDivisionError, OverflowError, ValueError, NotExact, KeyError):
            v = None
        out.append(v)
        if not syms:
            break
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


def compare_expr(a: str, b: str, deadline: float) -> Outcome:
    if a.replace(" ", "") == b.replace(" ", ""):
        return Outcome(True, "string", None)
    if time.monotonic() > deadline:
        raise Timeout
    pa = _EXPR_CACHE.get(a)
    pb = _EXPR_CACHE.get(b)
    for p in (pa, pb):
        if p[0] != "ok":
            if _wordlike(a) and _wordlike(b) and text_key(a) == text_key(b):
                return Outcome(True, "string", None)
            return Outcome(False, "none", p[0])
    na, nb = pa[1], pb[1]
    ia, ib = _infinity(na), _infinity(nb)
    if ia or ib:
        ok = ia == ib
        return Outcome(ok, "numeric", None if ok else "mismatch")
    try:
        ea = exact(na)
        try:
            eb = exact(nb)
            return Outcome(ea == eb, "numeric", None if ea == eb else "mismatch")
        except NotExact:
            pass
    except NotExact:
        pass
    except TooLarge:
        return Outcome(False, "numeric", "too_large")
    except (ZeroDivisionError, OverflowError, ValueError):
        pass
    syms = free_symbols(na) | free_symbols(nb)
    try:
        va = _values(na, syms)
        vb = _values(nb, syms)
    except TooLarge:
        return Outcome(False, "numeric", "too_large")
    except RecursionError:
        return Outcome(False, "none", "too_large")
    method = "symbolic" if syms else "numeric"
    pairs = [(x, y) for x, y in zip(va, vb) if x is not None and y is not None]
    if not pairs:
        if any(x is not None for x in va) != any(y is not None for y in vb):
            return Outcome(False, method, "mismatch")
        raise NeedSymbolic(a, b)
    ok = all(_close(x, y) for x, y in pairs)
    if ok and len(pairs) < len(va) and syms:
        # defined at different points: different domains
        ok = sum(x is None for x in va) == sum(y is None for y in vb)
    return Outcome(ok, method, None if ok else "mismatch")


def _is_simple_lhs(s: str) -> bool:
    return bool(_VAR_PREFIX_RE.match(s.strip() + "="))


def compare_eq(ca, ga, deadline) -> Outcome:
    """Both sides are equations ``l = r``."""
    _, la, ra, _ = ca
    _, lg, rg, _ = ga
    if la.replace(" ", "") == lg.replace(" ", "") and _is_simple_lhs(lg):
        return compare_expr(ra, rg, deadline)
    # same equation up to a non-zero factor: (la - ra) = k (lg - rg)
    pa = _EXPR_CACHE.get(f"({la})-({ra})")
    pg = _EXPR_CACHE.get(f"({lg})-({rg})")
    if pa[0] != "ok" or pg[0] != "ok":
        return Outcome(False, "none", "parse_error")
    syms = free_symbols(pa[1]) | free_symbols(pg[1])
    va = _values(pa[1], syms)
    vg = _values(pg[1], syms)
    ratios = []
    for x, y in zip(va, vg):
        if x is None or y is None:
            continue
        if abs(y) < 1e-12:
            if abs(x) > 1e-9:
                return Outcome(False, "symbolic", "mismatch")
            continue
        ratios.append(x / y)
    if not ratios:
        return Outcome(False, "symbolic", "mismatch")
    ok = all(_close(r, ratios[0]) for r in ratios) and abs(ratios[0]) > 1e-12
    return Outcome(ok, "symbolic", None if ok else "mismatch")


# ---------------------------------------------------------------- structural comparison

def _leaf_text(node) -> str | None:
    if node[0] == "expr":
        return node[1]
    return None


def compare_struct(c, g, deadline: float) -> Outcome:
    if time.monotonic() > deadline:
        raise Timeout
    tc, tg = c[0], g[0]
    if tg == "eq" and tc != "eq":
        # gold "y = 2x+3" and a bare "2x+3": compare with the right-hand side when the
        # left is a plain variable; otherwise no match
        if _is_simple_lhs(g[1]) and tc == "expr":
            return compare_expr(c[1], g[2], deadline)
        return Outcome(False, "structural", "mismatch")
    if tc == "eq" and tg != "eq":
        # answer "a = b = c" against a value: the last member is the committed value
        return compare_struct(structure(c[2]), g, deadline)
    if tc == "eq" and tg == "eq":
        return compare_eq(c, g, deadline)
    if tg == "set":
        items_c = c[1] if tc == "set" else (c,)
        return _compare_sets(items_c, g[1], deadline)
    if tc == "set":
        if tg == "seq":
            # "1, 2" for an ordered pair "(1, 2)": same elements in order
            if len(c[1]) == len(g[3]):
                return _compare_in_order(c[1], g[3], deadline)
        # several different answers for a single gold value; equal repeats are fine
        items = _text_unique(c[1])
        if len(items) > 1 and not all(compare_struct(x, items[0], deadline).correct for x in items[1:]):
            return Outcome(False, "structural", "mismatch")
        return compare_struct(items[0], g, deadline)
    if tg == "seq":
        if tc == "seq":
            if len(c[3]) != len(g[3]):
                return Outcome(False, "structural", "mismatch")
            if (c[1], c[2]) != (g[1], g[2]):
                return Outcome(False, "structural", "mismatch")
            return _compare_in_order(c[3], g[3], deadline)
        if tc == "matrix" and len(g[3]) == len(c[1]) and all(len(r) == 1 for r in c[1]):
            return _compare_in_order(tuple(r[0] for r in c[1]), g[3], deadline)
        return Outcome(False, "structural", "mismatch")
    if tg == "matrix":
        if tc == "matrix":
            if len(c[1]) != len(g[1]) or any(len(x) != len(y) for x, y in zip(c[1], g[1])):
                # a row vector written for a column vector
                flat_c = [x for r in c[1] for x in r]
                flat_g = [x for r in g[1] for x in r]
                if len(flat_c) == len(flat_g) and (len(c[1]) == 1 or len(g[1]) == 1):
                    return _compare_in_order(flat_c, flat_g, deadline)
                return Outcome(False, "structural", "mismatch")
            return _compare_in_order([x for r in c[1] for x in r], [x for r in g[1] for x in r], deadline)
        if tc == "seq" and c[1] == "(" and all(len(r) == 1 for r in g[1]) and len(c[3]) == len(g[1]):
            return _compare_in_order(c[3], tuple(r[0] for r in g[1]), deadline)
        return Outcome(False, "structural", "mismatch")
    if tg == "union":
        if tc != "union" or len(c[1]) != len(g[1]):
            return Outcome(False, "structural", "mismatch")
        return _compare_sets(c[1], g[1], deadline)
    if tg == "rel":
        if tc != "rel":
            return Outcome(False, "structural", "mismatch")
        return _compare_rel(c, g, deadline)
    if tg == "base":
        if tc == "base":
            ok = c[1] == g[1] and c[2] == g[2]
        elif tc == "expr":
            ok = c[1].replace(" ", "").upper() == g[1]
        else:
            ok = False
        return Outcome(ok, "structural", None if ok else "mismatch")
    if tc == "base" and tg == "expr":
        ok = c[1] == g[1].replace(" ", "").upper()
        return Outcome(ok, "structural", None if ok else "mismatch")
    if tg == "expr" and tc == "expr":
        return compare_expr(c[1], g[1], deadline)
    if tg == "empty" or tc == "empty":
        return Outcome(False, "none", "mismatch")
    return Outcome(False, "structural", "mismatch")


def _compare_in_order(cs, gs, deadline) -> Outcome:
    method = "structural"
    for x, y in zip(cs, gs):
        o = compare_struct(x, y, deadline)
        if not o.correct:
            return Outcome(False, "structural", o.reason)
    return Outcome(True, method, None)


def _dedupe(items, deadline):
    uniq = []
    for it in items:
        if not any(compare_struct(it, u, deadline).correct for u in uniq):
            uniq.append(it)
    return uniq


def _text_unique(items) -> list:
    seen = set()
    out = []
    for it in items:
        key = repr(it).replace(" ", "")
        if key not in seen:
            seen.add(key)
            out.append(it)
    return out


def _compare_sets(cs, gs, deadline) -> Outcome:
    cs = _text_unique(cs)
    gs = _text_unique(gs)
    if len(cs) > 2 * len(gs) + 2:
        return Outcome(False, "structural", "mismatch")  # far too many values
    cs = _dedupe(cs, deadline)
    gs = _dedupe(gs, deadline)
    if len(cs) != len(gs):
        return Outcome(False, "structural", "mismatch")
    used = [False] * len(gs)
    for x in cs:
        for j, y in enumerate(gs):
            if not used[j] and compare_struct(x, y, deadline).correct:
                used[j] = True
                break
        else:
            return Outcome(False, "structural", "mismatch")
    return Outcome(True, "structural", None)


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}


def _compare_rel(c, g, deadline) -> Outcome:
    _, oc, lc, rc = c
    _, og, lg, rg = g
    if oc == og:
        if compare_expr(lc, lg, deadline).correct and compare_expr(rc, rg, deadline).correct:
            return Outcome(True, "structural", None)
    if _FLIP.get(oc) == og:
        if compare_expr(lc, rg, deadline).correct and compare_expr(rc, lg, deadline).correct:
            return Outcome(True, "structural", None)
    return Outcome(False, "structural", "mismatch")


# ---------------------------------------------------------------- entry point

def normalize_answer(s: str) -> str:
    return basic_normalize(s)


def compare(cand_norm: str, gold_norm: str, gold_struct, deadline: float, _reduce: bool = True) -> Outcome:
    """Compare a normalised candidate with a normalised gold (and its structure)."""
    if len(cand_norm) > MAX_ANSWER_CHARS:
        return Outcome(False, "none", "too_large")
    if cand_norm == gold_norm or cand_norm.replace(" ", "") == gold_norm.replace(" ", ""):
        return Outcome(True, "string", None)
    gk = text_key(gold_norm) if _wordlike(gold_norm) else ""
    if gk and _wordlike(cand_norm) and text_key(cand_norm) == gk:
        return Outcome(True, "string", None)
    if gk and gk.isalpha() and len(gk) >= 3 and _WORDS_ONLY_RE.match(gold_norm) and " " in cand_norm:
        # a word answer stated in a sentence: "This equation represents an ellipse"
        last = text_key(cand_norm.split()[-1])
        ok = last == gk and not _NEGATION_RE.search(cand_norm)
        return Outcome(ok, "string", None if ok else "mismatch")
    mc = _CHOICE_RE.match(gold_norm)
    if mc:
        m2 = _CHOICE_ANS_RE.match(cand_norm.strip())
        ok = bool(m2) and m2.group(1).upper() == mc.group(1).upper()
        return Outcome(ok, "string", None if ok else "mismatch")
    c_units = strip_units(cand_norm)
    g_units = strip_units(gold_norm)
    if c_units.replace(" ", "") == g_units.replace(" ", ""):
        return Outcome(True, "string", None)
    cs = structure(c_units)
    if g_units != gold_norm:
        gold_struct = structure(g_units)
    out = compare_struct(cs, gold_struct, deadline)
    if not out.correct and _reduce and _ENGLISH_RE.search(cand_norm):
        # words around the answer inside the box: "The answer is 5", "4 (since x > 0)"
        reduced = _reduce_sentence(cand_norm)
        if reduced and reduced != cand_norm:
            again = compare(reduced, gold_norm, gold_struct, deadline, _reduce=False)
            if again.correct:
                return again
    return out


_ENGLISH_RE = re.compile(r"(?<![\\A-Za-z])(?:the|is|are|since|because|so|answer|when|where|for)(?![A-Za-z])", re.I)
_REMARK_RE = re.compile(r"\s*[(,;]\s*(?:since|as|because|where|for|when|if|assuming)\b.*$", re.I)


def _reduce_sentence(s: str) -> str | None:
    from ._extract import answer_from_statement

    s2 = _REMARK_RE.sub("", s).strip()
    if s2 != s and s2:
        return s2
    return answer_from_statement(s)

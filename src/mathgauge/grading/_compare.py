"""Equivalence of two bare answers (see the package docstring for the policy).

:func:`compare` works on normalised text: equal strings, word answers and multiple-choice letters first, then
the answer trees (:mod:`._tree`) are compared node by node (:func:`compare_nodes`), with leaves compared by
value (:mod:`._values`). Parsing is done before (``_structure``); nothing here reads a response.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._limits import MAX_ANSWER_CHARS
from ._normalize import strip_units, text_key
from ._structure import parse_answer
from ._tree import (Assignments, Based, Collection, Empty, Equation, Expr, Matrix, Node, Relation, Seq,
                    Union_)
from ._values import Outcome, check_deadline, compare_equation_sides, compare_expr, wordlike

_MISMATCH = Outcome(False, "structural", "mismatch")
_MATCH = Outcome(True, "structural", None)


# ---------------------------------------------------------------- leaves and simple nodes

def _exprs(c: Node, g: Expr, deadline: float) -> Outcome:
    if isinstance(c, Expr):
        return compare_expr(c.text, g.text, deadline)
    if isinstance(c, Based):
        ok = c.sign == "" and c.digits == g.text.replace(" ", "").upper()
        return Outcome(ok, "structural", None if ok else "mismatch")
    return _MISMATCH


def _based(c: Node, g: Based, deadline: float) -> Outcome:
    if isinstance(c, Based):
        ok = (c.sign, c.digits, c.base) == (g.sign, g.digits, g.base)
    elif isinstance(c, Expr):
        ok = c.text.replace(" ", "").upper() == g.sign + g.digits
    else:
        ok = False
    return Outcome(ok, "structural", None if ok else "mismatch")


def _relations(c: Node, g: Relation, deadline: float) -> Outcome:
    if not isinstance(c, Relation):
        return _MISMATCH
    same = c.op == g.op and (_expr_equal(c.lhs, g.lhs, deadline) and _expr_equal(c.rhs, g.rhs, deadline))
    flipped = _FLIP.get(c.op) == g.op and (_expr_equal(c.lhs, g.rhs, deadline)
                                            and _expr_equal(c.rhs, g.lhs, deadline))
    return _MATCH if same or flipped else _MISMATCH


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}


def _expr_equal(a: str, b: str, deadline: float) -> bool:
    return compare_expr(a, b, deadline).correct


# ---------------------------------------------------------------- ordered structures

def _in_order(cs, gs, deadline: float) -> Outcome:
    for x, y in zip(cs, gs):
        o = compare_nodes(x, y, deadline)
        if not o.correct:
            return Outcome(False, "structural", o.reason)
    return _MATCH


def _seqs(c: Node, g: Seq, deadline: float) -> Outcome:
    if isinstance(c, Seq):
        if len(c.items) != len(g.items) or (c.open, c.close) != (g.open, g.close):
            return _MISMATCH
        return _in_order(c.items, g.items, deadline)
    if isinstance(c, Matrix) and len(c.rows) == len(g.items) and all(len(r) == 1 for r in c.rows):
        return _in_order([r[0] for r in c.rows], g.items, deadline)
    if isinstance(c, Matrix) and g.open == "(" and len(c.rows) == 1 and len(c.rows[0]) == len(g.items):
        return _in_order(c.rows[0], g.items, deadline)  # a row vector for a tuple
    return _MISMATCH


def _matrices(c: Node, g: Matrix, deadline: float) -> Outcome:
    if isinstance(c, Seq):
        if c.open == "(" and all(len(r) == 1 for r in g.rows) and len(c.items) == len(g.rows):
            return _in_order(c.items, [r[0] for r in g.rows], deadline)  # a tuple for a column vector
        if c.open == "(" and len(g.rows) == 1 and len(c.items) == len(g.rows[0]):
            return _in_order(c.items, g.rows[0], deadline)  # a tuple for a row vector
        return _MISMATCH
    if not isinstance(c, Matrix):
        return _MISMATCH
    flat_c = [x for r in c.rows for x in r]
    flat_g = [x for r in g.rows for x in r]
    same_shape = len(c.rows) == len(g.rows) and all(len(x) == len(y) for x, y in zip(c.rows, g.rows))
    vector = len(flat_c) == len(flat_g) and (len(c.rows) == 1 or len(g.rows) == 1)  # a row for a column
    if not (same_shape or vector):
        return _MISMATCH
    return _in_order(flat_c, flat_g, deadline)


def _assignments(c: Node, g: Node, deadline: float) -> Outcome:
    """Labelled tuples: by name when both carry the same names, else their values in order."""
    if isinstance(c, Assignments) and isinstance(g, Assignments):
        if sorted(c.names) == sorted(g.names):
            by_name = dict(zip(c.names, c.values))
            return _in_order([by_name[n] for n in g.names], g.values, deadline)
        return _in_order(c.values, g.values, deadline) if len(c.values) == len(g.values) else _MISMATCH
    cs = c.values if isinstance(c, Assignments) else _items(c)
    gs = g.values if isinstance(g, Assignments) else _items(g)
    if cs is None or gs is None or len(cs) != len(gs):
        return _MISMATCH
    return _in_order(cs, gs, deadline)


def _items(node: Node):
    if isinstance(node, Seq) and node.open == "(":
        return node.items
    if isinstance(node, Collection):
        return node.items
    return None


# ---------------------------------------------------------------- unordered structures

def _text_unique(items) -> list:
    seen, out = set(), []
    for it in items:
        key = repr(it).replace(" ", "")
        if key not in seen:
            seen.add(key)
            out.append(it)
    return out


def _dedupe(items, deadline: float) -> list:
    uniq: list = []
    for it in items:
        if not any(compare_nodes(it, u, deadline).correct for u in uniq):
            uniq.append(it)
    return uniq


def _flat(items) -> list:
    """Items of a list of solutions, with the values of ``x = a \\pm b`` (or a nested list) listed as items."""
    out: list = []
    for it in items:
        inner = it.value if isinstance(it, Equation) and it.labelled and not it.chain else it
        if isinstance(inner, Collection) and not inner.braced:
            out.extend(inner.items)
        else:
            out.append(it)
    return out


def _as_sets(cs, gs, deadline: float) -> Outcome:
    cs, gs = _text_unique(_flat(cs)), _text_unique(_flat(gs))
    if len(cs) > 2 * len(gs) + 2:
        return _MISMATCH  # far too many values
    cs, gs = _dedupe(cs, deadline), _dedupe(gs, deadline)
    if len(cs) != len(gs):
        return _MISMATCH
    used = [False] * len(gs)
    for x in cs:
        for j, y in enumerate(gs):
            if not used[j] and compare_nodes(x, y, deadline).correct:
                used[j] = True
                break
        else:
            return _MISMATCH
    return _MATCH


def _vs_gold_collection(c: Node, g: Collection, deadline: float) -> Outcome:
    items = c.items if isinstance(c, Collection) else (c,)
    return _as_sets(items, g.items, deadline)


def _vs_cand_collection(c: Collection, g: Node, deadline: float) -> Outcome:
    if isinstance(g, Seq) and g.open == "(" and len(c.items) == len(g.items):
        return _in_order(c.items, g.items, deadline)  # "1, 2" or {1, 2} for the ordered pair (1, 2)
    items = _text_unique(c.items)
    if not items:
        return _MISMATCH  # the empty set for a value
    # several different answers for a single reference value; equal repeats are fine
    if len(items) > 1 and not all(compare_nodes(x, items[0], deadline).correct for x in items[1:]):
        return _MISMATCH
    return compare_nodes(items[0], g, deadline)


def _unions(c: Node, g: Union_, deadline: float) -> Outcome:
    if not isinstance(c, Union_) or len(c.parts) != len(g.parts):
        return _MISMATCH
    return _as_sets(c.parts, g.parts, deadline)


# ---------------------------------------------------------------- equations

def _vs_gold_equation(c: Node, g: Equation, deadline: float) -> Outcome:
    if isinstance(c, Equation):
        return _equations(c, g, deadline)
    if g.labelled or g.chain:
        return compare_nodes(c, g.value, deadline)  # "(p,q)=(3,2)" for "(3,2)"; "1 = x = 0" for "0"
    return _MISMATCH


def _equations(c: Equation, g: Equation, deadline: float) -> Outcome:
    if (c.labelled and g.labelled) or c.chain or g.chain:
        return compare_nodes(c.value, g.value, deadline)
    return compare_equation_sides(c.sides[0], c.sides[-1], g.sides[0], g.sides[-1])


# ---------------------------------------------------------------- dispatch

_BY_GOLD: dict[type, Callable[[Node, Any, float], Outcome]] = {Seq: _seqs, Matrix: _matrices, Union_: _unions, Relation: _relations, Based: _based}


def compare_nodes(c: Node, g: Node, deadline: float) -> Outcome:
    """Compare a candidate answer tree with a reference tree.

    Args:
        c: candidate tree.
        g: reference tree.
        deadline: ``time.monotonic()`` limit (raises :class:`._values.Timeout` past it).

    Returns:
        The outcome.
    """
    check_deadline(deadline)
    if isinstance(g, Equation):
        return _vs_gold_equation(c, g, deadline)
    if isinstance(c, Equation):
        return compare_nodes(c.value, g, deadline)  # "x = 5", "a = b = 5": the committed value
    if isinstance(c, Assignments) or isinstance(g, Assignments):
        return _assignments(c, g, deadline)
    if isinstance(g, Collection):
        return _vs_gold_collection(c, g, deadline)
    if isinstance(c, Collection):
        return _vs_cand_collection(c, g, deadline)
    if isinstance(g, Expr):
        return _exprs(c, g, deadline)
    if isinstance(g, Empty) or isinstance(c, Empty):
        return Outcome(False, "none", "mismatch")
    return _BY_GOLD[type(g)](c, g, deadline)


# ---------------------------------------------------------------- text level

_NEGATION_RE = re.compile(r"\b(?:not|neither|nor|no|never|isn't|aren't|cannot)\b", re.I)
_NAMING_WORDS = {"a", "an", "the", "is", "are", "was", "be", "becomes", "represents", "forms", "describes", "it's",
                 "called", "named", "answer:"}
_WORDS_ONLY_RE = re.compile(r"^[A-Za-z][A-Za-z ]*$")
_CHOICE_RE = re.compile(r"^\(?([A-Ea-e])\)?(?:$|[.):]\s+(?=\S)|(?<=\))\s*(?=\S)|\s+(?=\S))")
# what may follow a choice letter: nothing, punctuation, or its option text; never an operator or a verdict
_NOT_OPTION_TEXT_RE = re.compile(
    r"^(?:[-=*+/^<>_']|\\(?:cdot|times|div|le|ge|ne|neq|leq|geq|pm|sqrt|frac)\b|(?:is|are|was|isn't|can't|"
    r"cannot|not|wrong|incorrect|false|true|and|or|equals?)\b)", re.I)


def choice_letter(s: str, *, lower: bool = True) -> str | None:
    """The multiple-choice letter ``s`` gives (``(C)``, ``C``, ``c``, ``C. x = 42``, ``(B) Ellipse``), or None.

    Args:
        s: a normalised answer.
        lower: accept a lower-case letter outside parentheses (a reference ``e`` is Euler's number).
    """
    m = _CHOICE_RE.match(s)
    if not m:
        return None
    rest = s[m.end():]
    if rest and _NOT_OPTION_TEXT_RE.match(rest):
        return None
    if m.group(1).islower() and s[0] != "(" and (rest or not lower):
        return None  # "c x" is a product, not a choice
    return m.group(1).upper()


def _text_outcome(cand: str, gold: str) -> Outcome | None:
    """Decisions made on the normalised strings alone (None when the trees must decide)."""
    if cand == gold or cand.replace(" ", "") == gold.replace(" ", ""):
        return Outcome(True, "string", None)
    if len(cand) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        return Outcome(False, "none", "too_large")
    gk = text_key(gold) if wordlike(gold) else ""
    if gk and wordlike(cand) and text_key(cand) == gk:
        return Outcome(True, "string", None)
    gold_choice = choice_letter(gold, lower=False)
    if gold_choice:
        ok = choice_letter(cand) == gold_choice
        return Outcome(ok, "string", None if ok else "mismatch")
    if gk and gk.isalpha() and len(gk) >= 3 and _WORDS_ONLY_RE.match(gold) and " " in cand and "\\" not in cand:
        # a word answer stated in a sentence: "This equation represents an ellipse" (named by an article or a
        # verb of being, not compared with: "Luka earns more than Navin")
        words = cand.split()
        ok = (text_key(words[-1]) == gk and words[-2].lower() in _NAMING_WORDS
              and not _NEGATION_RE.search(cand))
        return Outcome(ok, "string", None if ok else "mismatch")
    return None


def compare(cand_norm: str, gold_norm: str, gold_tree: Node, deadline: float) -> Outcome:
    """Compare a normalised candidate with a normalised reference (and the reference's tree).

    Args:
        cand_norm: normalised candidate answer.
        gold_norm: normalised reference answer.
        gold_tree: ``parse_answer(gold_norm)`` (cached by the caller).
        deadline: ``time.monotonic()`` limit.

    Returns:
        The outcome; raises :class:`._values.Timeout`, :class:`._values.NeedSymbolic`, ``TooLarge`` or
        ``ParseError`` for the caller to turn into a verdict.
    """
    decided = _text_outcome(cand_norm, gold_norm)
    if decided is not None:
        return decided
    c_units, g_units = strip_units(cand_norm), strip_units(gold_norm)
    if c_units.replace(" ", "") == g_units.replace(" ", ""):
        return Outcome(True, "string", None)
    if g_units != gold_norm:
        gold_tree = parse_answer(g_units)
    return compare_nodes(parse_answer(c_units), gold_tree, deadline)

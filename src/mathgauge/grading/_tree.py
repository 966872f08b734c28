"""The typed answer tree: what an answer is, structurally, before values are compared.

``_structure.parse_answer`` builds it from normalised text; ``_compare`` compares two trees. Leaves are
:class:`Expr` (one mathematical expression, kept as text: the expression parser reads it when values are
compared).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True, slots=True)
class Empty:
    """No answer text at all."""


@dataclass(frozen=True, slots=True)
class Expr:
    """One expression: ``\\frac{1}{2}``, ``2x+1``, ``\\text{Evelyn}``."""

    text: str


@dataclass(frozen=True, slots=True)
class Based:
    """An integer written in a base: ``-1011_2`` is ``Based("-", "1011", "2")``."""

    sign: str
    digits: str
    base: str


@dataclass(frozen=True, slots=True)
class Seq:
    """Ordered items between brackets: a tuple or point ``(1, 2)``, an interval ``[0, 1)``."""

    open: str
    close: str
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Collection:
    """Unordered items: a set ``\\{1, 2\\}``, all solutions ``1, 2`` / ``1 or 2``, the two values of ``a \\pm b``.

    ``braced`` when written as a set (``\\{...\\}`` or ``{...}``).
    """

    items: tuple[Node, ...]
    braced: bool = False


@dataclass(frozen=True, slots=True)
class Assignments:
    """Values named by distinct variables: ``x = -5, p = \\frac{14}{3}`` (a tuple whose items carry labels)."""

    names: tuple[str, ...]
    values: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Matrix:
    """Rows of cells (a column vector has one cell per row)."""

    rows: tuple[tuple[Node, ...], ...]


@dataclass(frozen=True, slots=True)
class Union_:
    """A union of intervals or sets: ``(-\\infty, 0) \\cup (1, \\infty)``."""

    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Equation:
    """``lhs = ... = rhs``; ``value`` is the member a reader takes as the answer (see ``_structure``)."""

    sides: tuple[str, ...]
    value: Node
    labelled: bool  # the other side only names the value: "x", "(p, q)", "|AB|", "S_1:S_2", "f(x)"

    @property
    def chain(self) -> bool:
        return len(self.sides) > 2


@dataclass(frozen=True, slots=True)
class Relation:
    """An inequality that is not an interval of one variable: ``x + y \\le 3``, ``x \\ne 2``."""

    op: str  # one of < <= > >= !=
    lhs: str
    rhs: str


Node = Union[Empty, Expr, Based, Seq, Collection, Assignments, Matrix, Union_, Equation, Relation]

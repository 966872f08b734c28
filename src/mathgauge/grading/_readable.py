"""Which parts of an answer the grader's own parser cannot read: a check for reference answers of a data set."""

from __future__ import annotations

from collections.abc import Iterator

from ._grader import _prepare_gold
from ._normalize import strip_units
from ._tree import Assignments, Collection, Equation, Expr, Matrix, Node, Relation, Seq, Union_
from ._values import EXPR_CACHE, wordlike


def _leaves(node: Node) -> Iterator[str]:
    if isinstance(node, Expr):
        yield node.text
    elif isinstance(node, (Seq, Collection)):
        for child in node.items:
            yield from _leaves(child)
    elif isinstance(node, Assignments):
        for child in node.values:
            yield from _leaves(child)
    elif isinstance(node, Union_):
        for child in node.parts:
            yield from _leaves(child)
    elif isinstance(node, Matrix):
        for row in node.rows:
            for child in row:
                yield from _leaves(child)
    elif isinstance(node, Equation):
        yield from _leaves(node.value)
    elif isinstance(node, Relation):
        yield node.lhs
        yield node.rhs


def unreadable_parts(answer: str) -> list[str]:
    """The expressions of ``answer`` (read as a reference answer) that the grader's parser cannot read.

    Empty when every part parses; words count as read (the grader compares them as text). A part that cannot be
    read is still compared, as text, so this is a diagnostic for data sets, not a verdict.

    Args:
        answer: a reference answer as a benchmark states it.
    """
    tree = _prepare_gold(answer).tree
    return [leaf for leaf in _leaves(tree)
            if not (wordlike(text := strip_units(leaf)) or EXPR_CACHE.get(text).node is not None)]

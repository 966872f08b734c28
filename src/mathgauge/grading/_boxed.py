"""The one ``\\boxed{}`` extractor of mathgauge (the grader, reference solutions in datasets, and the report's
peer-policy regrading all call :func:`last_boxed`)."""

from __future__ import annotations

import re

from ._limits import MAX_ANSWER_CHARS, MAX_EXTRACT_CHARS

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE_RE = re.compile(r"\\.|[{}]", re.S)
_BARE_ARG_RE = re.compile(r"[^\s$\\]+|\\[A-Za-z]+")
_MAX_BOXES = 64  # only the last boxes are looked at: extraction stays linear on adversarial input


def braced(text: str, start: int, limit: int = MAX_EXTRACT_CHARS) -> tuple[str, int] | None:
    """Content and end index of the balanced group that opens at ``text[start] == '{'``.

    Escaped braces (``\\{``) do not count. A group still open after ``limit`` characters, or open at the end of
    the text after more than an answer's size, is cut there (an over-long answer, rejected later); a short one
    still open at the end of the text gives ``None`` (cut off).

    Args:
        text: the text.
        start: index of the opening brace.
        limit: longest content scanned.

    Returns:
        ``(content, index after the closing brace)`` or ``None``.
    """
    depth = 0
    end = min(len(text), start + limit)
    for m in _BRACE_RE.finditer(text, start, end):
        c = m.group(0)
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:m.start()], m.end()
    if end < len(text) or end - start > MAX_ANSWER_CHARS:
        return text[start + 1:end], end  # still open after an answer's size: an over-long answer (too_large)
    return None  # open at the end of a short text: cut off


def _box_at(text: str, m: re.Match) -> tuple[str, int] | None:
    """(content, end) of the box whose command ``m`` matched: ``\\boxed{...}`` or ``\\boxed 5``."""
    i = m.end()
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "{":
        got = braced(text, i)
        if got is None:
            return None
        content, end = got
    else:
        if i == m.end():
            return None  # "\boxedx" is not a box
        arg = _BARE_ARG_RE.match(text, i, i + 200)
        if not arg:
            return None
        content, end = arg.group(0), arg.end()
    content = content.strip()
    return (content, end) if content else None


def _unnest(answer: str) -> str:
    """``\\boxed{\\boxed{5}}`` -> ``5``."""
    for _ in range(3):
        m = _BOX_RE.match(answer)
        if not m:
            break
        got = _box_at(answer, m)
        if got is None or answer[got[1]:].strip():
            break
        answer = got[0]
    return answer


# What may separate boxes that list several answers: nothing, commas, "and"/"or" (a few words around them).
_LIST_GAP_RE = re.compile(
    r"[\s$\\()\[\]]*(?:(?:[^.!?\n]{0,40}?(?:,|;|\band\b|\bor\b|\\quad|&)[^.!?\n]{0,40}?)"
    r"|[^A-Za-z0-9.!?\n]{0,40})$")


def _outer_boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of the last outermost non-empty boxes in ``text``: the last one and those before
    it on its line (what :func:`last_boxed` can use), read backwards so a long response costs a few boxes."""
    if "\\boxed" not in text and "\\fbox" not in text:
        return []
    boxes: list[tuple[int, int, str]] = []
    line_start = -1
    for m in reversed(list(_BOX_RE.finditer(text))[-_MAX_BOXES:]):
        if boxes and m.start() < line_start:
            break  # on an earlier line: only a box that encloses the ones found could still matter
        got = _box_at(text, m)
        if got is None:
            continue
        if boxes and got[1] > boxes[0][0]:
            boxes = [box for box in boxes if box[0] >= got[1]]  # the new box encloses them: it is the outer one
        boxes.insert(0, (m.start(), got[1], got[0]))
        line_start = text.rfind("\n", 0, boxes[-1][0]) + 1
    return boxes


def _joined(text: str, boxes: list[tuple[int, int, str]]) -> str:
    line_start = text.rfind("\n", 0, boxes[-1][0]) + 1
    group = [boxes[-1]]
    for box in reversed(boxes[:-1]):
        if box[0] < line_start or not _LIST_GAP_RE.match(text, box[1], group[0][0]):
            break
        group.insert(0, box)
    found: list[str] = []
    for _, _, content in group:
        content = _unnest(content)
        if content not in found:
            found.append(content)
    return ", ".join(found)


def last_boxed(text: str, *, join_line: bool = False) -> str | None:
    """Content of the last non-empty ``\\boxed{...}`` / ``\\fbox{...}`` (or ``\\boxed 5``) in ``text``.

    Braces are balanced (nesting and escaped braces allowed); a box nested in another counts as its outer box;
    ``\\boxed{\\boxed{x}}`` gives ``x``.

    Args:
        text: a response or a reference solution.
        join_line: also take the boxes before it on its line that list answers with it (separated by nothing,
            a comma, "and" or "or"), joined with ``", "`` (equal ones once): "x = \\boxed{2} or x = \\boxed{3}"
            gives ``2, 3`` (the grader's reading); without it, ``3`` (the reading of reference solutions and of
            the peers' graders).

    Returns:
        The box content, stripped, or ``None`` when there is no non-empty box.
    """
    boxes = _outer_boxes(text)
    if not boxes:
        return None
    return _joined(text, boxes) if join_line else _unnest(boxes[-1][2])


def final_box(text: str) -> tuple[str, int] | None:
    """``(last_boxed(text, join_line=True), index just after the last box)``, or None without a box."""
    boxes = _outer_boxes(text)
    if not boxes:
        return None
    return _joined(text, boxes), boxes[-1][1]

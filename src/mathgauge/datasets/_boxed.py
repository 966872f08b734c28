"""Find the content of the last ``\\boxed{...}`` in a reference solution (brace-matched, nesting allowed)."""

from __future__ import annotations

_MARKERS = ("\\boxed", "\\fbox")


def last_boxed_content(text: str) -> str | None:
    """Return the content of the last ``\\boxed{}`` / ``\\fbox{}`` in ``text``, or ``None`` if there is none."""
    end = len(text)
    while True:
        start = max(text.rfind(m, 0, end) for m in _MARKERS)
        if start < 0:
            return None
        content = _content_after(text, start)
        if content:
            return content
        end = start


def _content_after(text: str, marker_at: int) -> str | None:
    marker = next(m for m in _MARKERS if text.startswith(m, marker_at))
    i = marker_at + len(marker)
    if text.startswith("{", i):
        depth = 0
        for j in range(i, len(text)):
            ch = text[j]
            if ch == "\\":
                continue
            if ch == "{" and text[j - 1] != "\\":
                depth += 1
            elif ch == "}" and text[j - 1] != "\\":
                depth -= 1
                if depth == 0:
                    return text[i + 1 : j].strip()
        return None
    if text.startswith(" ", i):
        # `\boxed 5`: the answer is the next token, up to a space or a closing `$`.
        token = text[i:].lstrip().split("$", 1)[0].split(maxsplit=1)
        return token[0] if token else None
    return None

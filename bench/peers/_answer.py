"""The scoring rule both peer tasks use: the last \\boxed{...} of the response vs the reference, lightly normalised.

Deliberately simple (string match after normalisation): the peers are timed here, not graded; mathgauge's grader is
measured on its own in the grading section.
"""

from __future__ import annotations


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (balanced braces), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    i = start + len("\\boxed{")
    depth = 1
    out = []
    while i < len(text):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return "".join(out)
        out.append(ch)
        i += 1
    return None


def normalise(answer: str) -> str:
    s = answer.strip().strip("$").replace(" ", "")
    for old, new in (("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("dfrac", "frac"),
                     ("tfrac", "frac"), ("^\\circ", ""), ("^{\\circ}", ""), ("\\$", "")):
        s = s.replace(old, new)
    if s.startswith("\\text{") and s.endswith("}"):
        s = s[len("\\text{"):-1]
    return s.rstrip(".")


def is_correct(response: str, reference: str) -> bool:
    got = last_boxed(response or "")
    return got is not None and normalise(got) == normalise(reference)

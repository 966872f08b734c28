"""Find the content of the last ``\\boxed{...}`` in a reference solution (brace-matched, nesting allowed).

The one ``\\boxed`` extractor of mathgauge is :func:`mathgauge.grading.last_boxed`; this name is kept for the
dataset loaders and integrations that import it.
"""

from __future__ import annotations


def last_boxed_content(text: str) -> str | None:
    """Return the content of the last ``\\boxed{}`` / ``\\fbox{}`` in ``text``, or ``None`` if there is none."""
    # Imported on first use: loading a benchmark whose answers are a column of their own (MATH-500) then never
    # imports the grader (most of a run's start-up before its first request).
    from ..grading import last_boxed

    return last_boxed(text)

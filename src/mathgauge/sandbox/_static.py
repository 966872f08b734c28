"""The host's bounded entry to the static classifier (the classifier itself runs inside each job)."""

from __future__ import annotations

import threading

from ._inside._static import classify

#: Largest snippet the host parses itself (an AST costs ~650 bytes per byte of dense code: ~40 MB here).
MAX_STATIC_CHARS = 64 * 1024
TOO_LARGE = "dynamic:too-large-to-classify"
_one_at_a_time = threading.BoundedSemaphore(1)


def classify_static(code: str) -> list[str]:
    """Tags for what ``code`` tries to touch beyond computing (empty list for ordinary math code).

    Bounded in the host: code longer than ``MAX_STATIC_CHARS`` is not parsed and gets ``TOO_LARGE``, and
    one snippet is parsed at a time, so memory stays under ~40 MB and time under a second whatever the
    input.  ``Sandbox.run`` classifies inside the job instead, under the job's limits, at any size.

    Args:
        code: the snippet.
    """
    if not isinstance(code, str):
        raise TypeError("code must be a str, not %s" % type(code).__name__)
    if len(code) > MAX_STATIC_CHARS:
        return [TOO_LARGE]
    with _one_at_a_time:
        return classify(code)

"""Size bounds shared by extraction and comparison (one place, so the two never disagree)."""

from __future__ import annotations

#: A response longer than this is cut to its end before anything else (the final answer is near the end).
MAX_RESPONSE_CHARS = 2_000_000
#: Only this much of the end of a response (after the thinking trace) is searched for the final answer.
MAX_SCAN_CHARS = 200_000
#: An answer longer than this (after normalisation) is not parsed: it is ``too_large`` unless it is
#: equal to the reference as a string, which is checked first.
MAX_ANSWER_CHARS = 2000
#: Extraction never returns more than this; longer answers can only be equal by string or ``too_large``.
MAX_EXTRACT_CHARS = 20_000

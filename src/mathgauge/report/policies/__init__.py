"""Peer harnesses' grading policies (Minerva, hendrycks-style, lenient), re-implemented to measure how much of a
gap to a published score the grader alone explains."""

from ...grading import last_boxed
from ._policies import (
    CLOSEST_POLICY,
    POLICIES,
    hendrycks_clean,
    hendrycks_policy,
    lenient_policy,
    minerva_clean,
    minerva_policy,
    parse_number,
)
from ._tally import PolicyTally, regrade_rows

__all__ = [
    "CLOSEST_POLICY", "POLICIES", "PolicyTally", "hendrycks_clean", "hendrycks_policy", "last_boxed",
    "lenient_policy", "minerva_clean", "minerva_policy", "parse_number", "regrade_rows",
]

"""The one record every benchmark is normalised to."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

#: Canonical MATH subject names, in the order reports list them.
MATH_SUBJECTS: tuple[str, ...] = (
    "Prealgebra",
    "Algebra",
    "Number Theory",
    "Counting & Probability",
    "Geometry",
    "Intermediate Algebra",
    "Precalculus",
)

#: The subject of problems whose benchmark has none (GSM8K, GaoKao 2023 En).
NO_SUBJECT = "Unknown"


def subject_slug(name: str) -> str:
    """``"Counting & Probability"`` -> ``"counting_and_probability"``: the spelling users type and ids use."""
    slug = name.strip().lower().replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", "_", slug).strip("_")


_SLUG_TO_SUBJECT = {subject_slug(s): s for s in MATH_SUBJECTS}


def canonical_subject(name: str) -> str:
    """Map any spelling of a MATH subject (``number_theory``, ``Number Theory``) to its canonical name.

    Names that are not MATH subjects are kept as given (custom data files may have their own).
    """
    return _SLUG_TO_SUBJECT.get(subject_slug(name), name.strip())


@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    Args:
        id: stable identifier (the dataset's own id, or a hash of the problem text when it has none).
        problem: the problem statement (LaTeX).
        answer: the reference final answer.
        solution: the reference worked solution ("" when the source has none).
        subject: canonical subject name (e.g. ``"Number Theory"``; ``"Unknown"`` when the benchmark has none).
        level: difficulty 1-5, or ``None`` when the source has no level.
        benchmark: the registry name of the benchmark the problem was loaded as (``aime24``).
        unit: the unit of the answer when the source states it apart (OlympiadBench), else "".
    """

    id: str
    problem: str
    answer: str
    solution: str
    subject: str
    level: int | None
    benchmark: str = ""
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

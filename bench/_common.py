"""Helpers shared by the benchmark scripts: where the shared data is, medians, printing."""

from __future__ import annotations

import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_file(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        raise SystemExit(f"missing {path}: the benchmarks read ../shared/ beside the repository")
    return path


def median(values: list[float]) -> float:
    return statistics.median(values)

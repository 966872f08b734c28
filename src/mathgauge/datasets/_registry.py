"""The registry of known benchmarks, read from ``benchmarks.toml`` beside this file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import DatasetError


@dataclass(frozen=True)
class Benchmark:
    """A benchmark the tool knows how to fetch.

    Args:
        name: registry key (``math500``, ``math``).
        description: one line for listings.
        hub_repo: Hugging Face hub dataset repository.
        hub_files: glob patterns of the files to load inside that repository.
        id_prefix: prefix of the ids made for rows that carry none.
    """

    name: str
    description: str
    hub_repo: str
    hub_files: tuple[str, ...]
    id_prefix: str


@lru_cache(maxsize=1)
def _registry() -> dict[str, Benchmark]:
    raw = tomllib.loads((Path(__file__).with_name("benchmarks.toml")).read_text(encoding="utf-8"))
    return {
        name: Benchmark(
            name=name,
            description=entry["description"],
            hub_repo=entry["hub_repo"],
            hub_files=tuple(entry["hub_files"]),
            id_prefix=entry.get("id_prefix", name),
        )
        for name, entry in raw.items()
    }


def list_benchmarks() -> list[Benchmark]:
    """All registered benchmarks."""
    return list(_registry().values())


def get_benchmark(name: str) -> Benchmark:
    """Look a benchmark up by name; an unknown name raises :class:`DatasetError` listing the known ones."""
    try:
        return _registry()[name]
    except KeyError:
        known = ", ".join(sorted(_registry()))
        raise DatasetError(f"unknown benchmark {name!r}; known benchmarks: {known}") from None

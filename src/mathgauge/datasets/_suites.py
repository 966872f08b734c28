"""Named suites of benchmarks (``qwen-math``, ``r1``), read from the ``[suites]`` table of ``benchmarks.toml``, and
the reading of a ``--benchmark`` value (benchmarks and suites, comma-separated) into the benchmarks it names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..errors import DatasetError
from ._registry import REGISTRY_FILE, SUITES_KEY, list_benchmarks, registry_tables

_KEYS = {"title", "description", "benchmarks", "source", "left_out", "protocol", "options"}


@dataclass(frozen=True)
class Suite:
    """A named list of benchmarks, as one report's table lists them.

    Args:
        name: the name ``--benchmark`` takes (``qwen-math``).
        title: the report it follows (``Qwen2.5-Math``).
        description: one line for listings.
        benchmarks: registry names, in the order of the report's table.
        source: where the list comes from (URLs).
        left_out: benchmarks of that table mathgauge does not have.
        protocol: how the report sampled and scored, in words.
        options: the ``mathgauge run`` options of that protocol (advice: a suite never sets them).
    """

    name: str
    title: str
    description: str
    benchmarks: tuple[str, ...]
    source: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()
    protocol: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(self.name)

    def advice(self) -> str:
        """The report's protocol as options to type (``--temperature 0.6 --top-p 0.95 ...``); empty without one."""
        return " ".join(f"--{key.replace('_', '-')} {value:g}" if isinstance(value, float) else
                        f"--{key.replace('_', '-')} {value}" for key, value in self.options.items())


def _suite(name: str, entry: Any, benchmarks: set[str]) -> Suite:
    where = f"{REGISTRY_FILE.name} [{SUITES_KEY}.{name}]"
    if not isinstance(entry, dict):
        raise DatasetError(f"{where}: expected a table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise DatasetError(f"{where}: unknown key(s) {sorted(unknown)}; expected some of {sorted(_KEYS)}")
    if name in benchmarks:
        raise DatasetError(f"{where}: a suite cannot have the name of a benchmark")
    names = entry.get("benchmarks")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DatasetError(f"{where}: 'benchmarks' must be a non-empty list of benchmark names")
    missing = [n for n in names if n not in benchmarks]
    if missing:
        raise DatasetError(f"{where}: unknown benchmark(s) {missing}; known: {', '.join(sorted(benchmarks))}")
    options = entry.get("options", {})
    if not isinstance(options, dict) or not all(isinstance(v, (int, float, str)) for v in options.values()):
        raise DatasetError(f"{where}: 'options' must map option names to numbers or strings")
    return Suite(name=name, title=entry.get("title", name), description=entry.get("description", ""),
                 benchmarks=tuple(names), source=tuple(entry.get("source", ())),
                 left_out=tuple(entry.get("left_out", ())), protocol=entry.get("protocol", ""), options=options)


@lru_cache(maxsize=1)
def _suites() -> dict[str, Suite]:
    benchmarks = {b.name for b in list_benchmarks()}
    tables = registry_tables().get(SUITES_KEY, {})
    return {name: _suite(name, entry, benchmarks) for name, entry in tables.items()}


def list_suites() -> list[Suite]:
    """All named suites, in the registry's order."""
    return list(_suites().values())


def get_suite(name: str) -> Suite:
    """A suite by name; an unknown name raises `DatasetError` listing the known ones."""
    try:
        return _suites()[name]
    except KeyError:
        raise DatasetError(f"unknown suite {name!r}; suites: {', '.join(_suites())}") from None


def expand_benchmarks(value: str | Sequence[str]) -> tuple[list[str], list[Suite]]:
    """The benchmarks a ``--benchmark`` value names, in order and each once, and the suites it names.

    Args:
        value: ``math500``, ``aime24,math500,gsm8k``, a suite (``qwen-math``), a mix (``r1,gsm8k``), or a list of
            such names.

    Raises:
        DatasetError: a name that is neither a benchmark nor a suite (listing both), or no name at all.
    """
    items = [value] if isinstance(value, str) else list(value)
    names = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    if not names:
        raise DatasetError("--benchmark names no benchmark; `mathgauge benchmarks` lists them")
    known = {b.name for b in list_benchmarks()}
    out: list[str] = []
    suites: list[Suite] = []
    for name in names:
        if name in known:
            members = [name]
        elif name in _suites():
            suite = _suites()[name]
            suites.append(suite)
            members = list(suite.benchmarks)
        else:
            raise DatasetError(f"unknown benchmark {name!r} (nor a suite); known benchmarks: "
                               f"{', '.join(sorted(known))}; suites: {', '.join(_suites())}")
        out.extend(m for m in members if m not in out)
    return out, suites

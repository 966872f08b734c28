"""The registry of known benchmarks, read from ``benchmarks.toml`` beside this file (data, not code)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ._readers import READERS

REGISTRY_FILE = Path(__file__).with_name("benchmarks.toml")


@dataclass(frozen=True)
class AnswerSource:
    """One way to read the reference answer: a column and the readers applied to it, in order."""

    column: str
    readers: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubjectSource:
    """One way to find a problem's subject; the first that gives one wins.

    Args:
        column: a source column holding the subject (``subfield``, ``type``).
        pattern: a regular expression searched in ``column`` (or, with ``file``, in the file name); its groups
            fill ``template`` (``"AIME {1} {2}"``).
        file: match ``pattern`` against the data file's name instead of a column.
        folder: the data file's folder names the subject (hub mirrors of MATH keep one folder per subject).
        blocks: (subject, rows) runs in file order, used only when the file has exactly that many rows.
        title: write the subject found in title case (``differential_equation`` -> ``Differential Equation``).
    """

    column: str | None = None
    pattern: str | None = None
    template: str | None = None
    file: bool = False
    folder: bool = False
    blocks: tuple[tuple[str, int], ...] = ()
    title: bool = False


@dataclass(frozen=True)
class Sampling:
    """How a benchmark is reported, and the sampling a comparable run needs.

    Args:
        metrics: the metrics reports use (``pass@1``; ``avg@k`` and ``pass@k`` for the small contests).
        samples: the recommended samples per problem (k).
        min_samples: fewer samples than this make the run's score incomparable with published figures.
        temperature, top_p: the sampling settings most reports use with those k samples.
        note: why (one sentence, shown by ``mathgauge benchmarks`` and in the warning).
    """

    metrics: tuple[str, ...] = ("pass@1",)
    samples: int = 1
    min_samples: int = 1
    temperature: float | None = None
    top_p: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Benchmark:
    """A benchmark the tool knows how to fetch and read.

    Args:
        name: registry key (``math500``, ``aime24``).
        title: the name reports and published tables use (``MATH-500``, ``AIME 2024``).
        description: one line for listings.
        size: rows in the published test split.
        licence: the licence of the problems, as far as it is known.
        hub_repo: Hugging Face hub dataset repository.
        hub_files: glob patterns (``fnmatch``: ``*`` crosses folders) of the files to load inside that repository.
        hub_config, hub_split: the hub configuration and split those files are (for people; the files decide).
        id_prefix: prefix of the ids made for rows that carry none.
        id_columns: columns joined with ``/`` into the problem id (none: the row's id column, else a text hash).
        fields: source columns to try for each `Problem` field (``problem``, ``solution``, ``id``, ``level``).
        answer: ways to read the reference answer, tried in order (the first whose column the row has).
        problem_readers: readers applied to the problem text (``repair_escapes``).
        subject: ways to find the subject, tried in order.
        unit_column: the column holding the answer's unit, when the source gives one.
        bundled: file name of the copy shipped inside mathgauge (``None``: hub or ``--data-file`` only).
        bundled_sha256: SHA-256 of that copy's uncompressed bytes, checked whenever it is loaded.
        prompt_template, answer_format: the defaults a run of this benchmark uses.
        sampling: how it is reported and what a comparable run needs.
        published_names: the spellings published tables use; the first is canonical.
        notes: known quirks of the data worth telling a user.
    """

    name: str
    title: str
    description: str
    size: int | None
    licence: str
    hub_repo: str
    hub_files: tuple[str, ...]
    hub_config: str | None = None
    hub_split: str | None = None
    id_prefix: str = ""
    id_columns: tuple[str, ...] = ()
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    answer: tuple[AnswerSource, ...] = ()
    problem_readers: tuple[str, ...] = ()
    subject: tuple[SubjectSource, ...] = ()
    unit_column: str | None = None
    bundled: str | None = None
    bundled_sha256: str | None = None
    prompt_template: str = "cot_boxed"
    answer_format: str = "boxed"
    sampling: Sampling = Sampling()
    published_names: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __hash__(self) -> int:
        return hash(self.name)


_FIELDS = ("problem", "solution", "id", "level")
_KEYS = {
    "title", "description", "size", "licence", "hub_repo", "hub_files", "hub_config", "hub_split", "id_prefix",
    "id_columns", "fields", "answer", "problem_readers", "subject", "unit_column", "bundled", "bundled_sha256",
    "prompt_template", "answer_format", "sampling", "published_names", "notes",
}


def _readers(names: Any, where: str) -> tuple[str, ...]:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DatasetError(f"{where}: 'readers' must be a list of reader names")
    unknown = [n for n in names if n not in READERS]
    if unknown:
        raise DatasetError(f"{where}: unknown reader(s) {unknown}; readers are: {', '.join(READERS)}")
    return tuple(names)


def _subject_source(raw: dict[str, Any], where: str) -> SubjectSource:
    if raw.get("pattern") is not None:
        try:
            re.compile(raw["pattern"])
        except re.error as exc:
            raise DatasetError(f"{where}: invalid subject pattern ({exc})") from None
    return SubjectSource(column=raw.get("column"), pattern=raw.get("pattern"), template=raw.get("template"),
                         file=bool(raw.get("file", False)), folder=bool(raw.get("folder", False)),
                         blocks=tuple((str(s), int(n)) for s, n in raw.get("blocks", [])),
                         title=bool(raw.get("title", False)))


def _benchmark(name: str, entry: dict[str, Any]) -> Benchmark:
    where = f"{REGISTRY_FILE.name} [{name}]"
    unknown = set(entry) - _KEYS
    if unknown:
        raise DatasetError(f"{where}: unknown key(s) {sorted(unknown)}")
    fields = {k: tuple(v) for k, v in entry.get("fields", {}).items()}
    if set(fields) - set(_FIELDS):
        raise DatasetError(f"{where}: 'fields' may name {', '.join(_FIELDS)}; got {sorted(fields)}")
    sampling = entry.get("sampling", {})
    return Benchmark(
        name=name,
        title=entry.get("title", name),
        description=entry["description"],
        size=entry.get("size"),
        licence=entry.get("licence", "not stated"),
        hub_repo=entry["hub_repo"],
        hub_files=tuple(entry["hub_files"]),
        hub_config=entry.get("hub_config"),
        hub_split=entry.get("hub_split"),
        id_prefix=entry.get("id_prefix", name),
        id_columns=tuple(entry.get("id_columns", ())),
        fields=fields,
        answer=tuple(AnswerSource(a["column"], _readers(a.get("readers", ["strip"]), where))
                     for a in entry.get("answer", [])),
        problem_readers=_readers(entry.get("problem_readers", []), where),
        subject=tuple(_subject_source(s, where) for s in entry.get("subject", [])),
        unit_column=entry.get("unit_column"),
        bundled=entry.get("bundled"),
        bundled_sha256=entry.get("bundled_sha256"),
        prompt_template=entry.get("prompt_template", "cot_boxed"),
        answer_format=entry.get("answer_format", "boxed"),
        sampling=Sampling(
            metrics=tuple(sampling.get("metrics", ("pass@1",))), samples=int(sampling.get("samples", 1)),
            min_samples=int(sampling.get("min_samples", 1)), temperature=sampling.get("temperature"),
            top_p=sampling.get("top_p"), note=sampling.get("note", ""),
        ),
        published_names=tuple(entry.get("published_names", (entry.get("title", name),))),
        notes=tuple(entry.get("notes", ())),
    )


#: The registry file's table of named suites (read by `mathgauge.datasets._suites`); every other table is a benchmark.
SUITES_KEY = "suites"


@lru_cache(maxsize=1)
def registry_tables() -> dict[str, Any]:
    """The registry file, parsed (once)."""
    return tomllib.loads(REGISTRY_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _registry() -> dict[str, Benchmark]:
    return {name: _benchmark(name, entry) for name, entry in registry_tables().items() if name != SUITES_KEY}


def list_benchmarks() -> list[Benchmark]:
    """All registered benchmarks, in the registry's order."""
    return list(_registry().values())


def get_benchmark(name: str) -> Benchmark:
    """Look a benchmark up by name; an unknown name raises :class:`DatasetError` listing the known ones."""
    try:
        return _registry()[name]
    except KeyError:
        known = ", ".join(sorted(_registry()))
        raise DatasetError(f"unknown benchmark {name!r}; known benchmarks: {known}") from None


def benchmark_for_published_name(label: str) -> Benchmark | None:
    """The benchmark a published table's label names (``AIME 2024``, ``aime24``, ``MATH-500``), or None."""
    wanted = _label_key(label)
    for bench in _registry().values():
        if wanted == _label_key(bench.name) or any(wanted == _label_key(n) for n in bench.published_names):
            return bench
    return None


def _label_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())

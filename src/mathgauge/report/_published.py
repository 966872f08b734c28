"""The registry of published scores (MATH-500, MATH, AIME, AMC, GSM8K, Minerva Math, OlympiadBench...), and matching a
run's model, benchmark and metric to it.

Every source's row is kept (sources disagree; the spread is shown, none is picked). A run is only ever put beside
figures on its own benchmark (never MATH with MATH-500) and with a metric its own estimates (never a 1-sample AIME
run with avg@64, never any run with a majority vote). The registry is data: ``published_scores.json`` beside this
file, built by ``tools/published_scores/build.py`` from the reference tables.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError

DATA_FILE = Path(__file__).with_name("published_scores.json")
#: Subsets published tables report that are not registry benchmarks: canonical name -> problems.
_SUBSETS = {"MATH-945": 945}


def _run_benchmarks() -> dict[str, tuple[str, int | None]]:
    """mathgauge benchmark name -> (the registry's canonical published name, problems)."""
    from ..datasets import list_benchmarks

    return {b.name: (b.published_names[0], b.size) for b in list_benchmarks()}


def normalize_model(name: str) -> str:
    """Lower-case, no organisation prefix, spaces and colons as dashes, a few spelling aliases."""
    text = name.strip().split("/")[-1].lower()
    text = re.sub(r"[\s:_]+", "-", text)
    text = re.sub(r"^claude-3-5-", "claude-3.5-", text)
    text = re.sub(r"^llama(\d)", r"llama-\1", text)
    return text.strip("-")


@dataclass(frozen=True)
class PublishedScore:
    """One published figure with its source and the protocol the source states."""

    id: int
    model: str
    model_key: str
    version: str | None
    benchmark: str
    benchmark_label: str
    benchmark_key: str | None  # the mathgauge benchmark (``aime24``); None for subsets mathgauge does not run
    score: float | None  # percent; None: no published number
    metric: str
    metric_kind: str
    shots: int | None
    mode: str
    mode_kind: str
    settings: str
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    samples: int | None
    chat_template: bool | None
    grader: str
    grader_kind: str
    source_urls: tuple[str, ...]
    source_date: str
    provenance: str
    notes: str

    @property
    def source(self) -> str:
        return " ; ".join(self.source_urls)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["source_urls"] = list(self.source_urls)
        return d


@lru_cache(maxsize=1)
def load_registry() -> tuple[PublishedScore, ...]:
    """Every entry of the shipped registry, in the reference table's order."""
    doc = json.loads(Path(DATA_FILE).read_text(encoding="utf-8"))
    out = []
    for e in doc["entries"]:
        dec = e["decoding"]
        out.append(PublishedScore(
            id=e["id"], model=e["model"], model_key=e["model_key"], version=e["version"], benchmark=e["benchmark"],
            benchmark_label=e["benchmark_label"], benchmark_key=e.get("benchmark_key"), score=e["score"],
            metric=e["metric"], metric_kind=e["metric_kind"],
            shots=e["shots"], mode=e["mode"], mode_kind=e["mode_kind"], settings=e["settings"],
            temperature=dec["temperature"], top_p=dec["top_p"], max_tokens=dec["max_tokens"],
            samples=dec["samples"], chat_template=e["chat_template"], grader=e["grader"],
            grader_kind=e["grader_kind"], source_urls=tuple(e["source_urls"]), source_date=e["source_date"],
            provenance=e["provenance"], notes=e["notes"],
        ))
    return tuple(out)


#: Ollama tags that name another model than their spelling says (``deepseek-r1:7b`` is the Qwen-7B distill; the
#: default ``qwen2.5:7b`` tag is the instruct model).
_OLLAMA_ALIASES = {
    "deepseek-r1-1.5b": "deepseek-r1-distill-qwen-1.5b", "deepseek-r1-7b": "deepseek-r1-distill-qwen-7b",
    "deepseek-r1-8b": "deepseek-r1-distill-llama-8b", "deepseek-r1-14b": "deepseek-r1-distill-qwen-14b",
    "deepseek-r1-32b": "deepseek-r1-distill-qwen-32b", "deepseek-r1-70b": "deepseek-r1-distill-llama-70b",
    **{f"qwen2.5-{size}": f"qwen2.5-{size}-instruct" for size in ("0.5b", "1.5b", "3b", "7b", "14b", "32b", "72b")},
}


def split_run_model(model: str) -> tuple[str, str | None]:
    """A run's model name (``openai/gpt-4o-2024-08-06``, ``claude-3-5-sonnet-20241022``, Ollama's
    ``deepseek-r1:7b``) -> (registry key, snapshot date or None)."""
    key = normalize_model(model)
    if ":" in model:
        key = _OLLAMA_ALIASES.get(key, key)
    m = re.match(r"^(.*?)-(\d{4})-(\d{2})-(\d{2})$", key)
    if m:
        return m.group(1), f"{m.group(2)}-{m.group(3)}-{m.group(4)}"
    m = re.match(r"^(.*?)-(20\d{2})(\d{2})(\d{2})$", key)
    if m:
        return m.group(1), f"{m.group(2)}-{m.group(3)}-{m.group(4)}"
    m = re.match(r"^(.*?)-(0[1-9]|1[0-2])(\d{2})$", key)  # gpt-4-0613 style
    if m and any(e.model_key == m.group(1) for e in load_registry()):
        return m.group(1), f"2024-{m.group(2)}-{m.group(3)}"
    return key, None


def published_for_model(model: str) -> list[PublishedScore]:
    """The entries for exactly this model (any snapshot; see `version_matches`), all benchmarks."""
    key, _ = split_run_model(model)
    return [e for e in load_registry() if e.model_key == key]


def version_matches(entry: PublishedScore, model: str) -> bool | None:
    """True/False when both the run and the entry name a dated snapshot; None when either does not."""
    _, date = split_run_model(model)
    if date is None or entry.version is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry.version):
        return None
    return entry.version == date


def search_published(query: str | None = None, benchmark: str | None = None) -> list[PublishedScore]:
    """Entries whose model matches ``query`` (exact key first; else a substring of the key), optionally one
    benchmark (``MATH-500``, ``math500``, ``aime24``, ``AIME 2024``...; see `canonical_benchmark_name`)."""
    entries = list(load_registry())
    if benchmark:
        canon = canonical_benchmark_name(benchmark)
        entries = [e for e in entries if e.benchmark == canon]
    if query:
        key, _ = split_run_model(query)
        exact = [e for e in entries if e.model_key == key]
        if exact:
            return exact
        needle = normalize_model(query)
        entries = [e for e in entries if needle in e.model_key or needle in normalize_model(e.model)]
    return entries


def canonical_benchmark_name(name: str) -> str:
    """Any spelling of a benchmark (``math500``, ``MATH-500``, ``aime24``, ``AIME 2024``, ``math-945``) -> the
    canonical name published figures are filed under; unknown names are returned as given."""
    from ..datasets import benchmark_for_published_name

    low = re.sub(r"[^a-z0-9]+", "", name.lower())
    if low == "math945":
        return "MATH-945"
    bench = benchmark_for_published_name(name)
    return bench.published_names[0] if bench else name


def check_benchmark_name(name: str) -> str:
    """`canonical_benchmark_name`, or a `ConfigError` listing the known benchmarks when nothing matches."""
    canon = canonical_benchmark_name(name)
    if canon in {e.benchmark for e in load_registry()} or canon in {c for c, _ in _run_benchmarks().values()}:
        return canon
    known = ", ".join(sorted(_run_benchmarks()))
    raise ConfigError(f"unknown benchmark {name!r}; expected one of {known} (or a published name such as MATH-500, "
                      f"AIME 2024)")


def run_benchmark(benchmark: str, problem_count: int | None, per_cell: int | None = None) -> tuple[str, str | None]:
    """The registry benchmark a run can be put beside, and a caveat when the run covers only part of it.

    A run of ``math`` on the 945-problem stratified subset (27 per cell) is ``MATH-945``; any other partial run
    keeps its benchmark with a caveat (its accuracy is not an estimate of the full benchmark's).

    Args:
        benchmark: the run's benchmark (a mathgauge name).
        problem_count: how many problems the run has (stored with it).
        per_cell: its stratified draw's problems per subject x level cell (`RunSpec.per_cell`).
    """
    canon, full = _run_benchmarks().get(benchmark, (benchmark, None))
    if canon == "MATH" and per_cell == 27 and problem_count == 945:
        return "MATH-945", None
    full = _SUBSETS.get(canon, full)
    if full and problem_count and problem_count != full:
        return canon, (f"the run covers {problem_count} of the {full} {canon} problems; published figures are on "
                       f"all {full}")
    return canon, None


def comparable(entry: PublishedScore, samples: int) -> tuple[bool, str | None]:
    """Whether a published figure estimates what a run measures, and why not.

    Like with like: a majority vote or reward-model pick (maj@k, cons@k, rm@k) is never beside a run's accuracy; on a
    benchmark reported as avg@k (AIME, AMC), a run with fewer samples than the benchmark needs is only beside
    single-sample figures, and a run with enough samples only beside avg@k figures.

    Args:
        entry: the published figure.
        samples: the run's samples per problem (`RunSpec.sampling`).
    """
    if entry.metric_kind in ("maj@k", "rm@k"):
        return False, f"{entry.metric} is a vote over k samples, not an accuracy"
    if not entry.benchmark_key:
        return True, None
    from ..datasets import get_benchmark

    needed = get_benchmark(entry.benchmark_key).sampling.min_samples
    if needed <= 1:
        return True, None
    if samples < needed and entry.metric_kind == "avg@k":
        return False, f"{entry.metric} averages many samples; this run has {samples} per problem"
    if samples >= needed and entry.metric_kind == "greedy":
        return False, f"{entry.metric} is one greedy sample per problem; this run averages {samples}"
    return True, None


def spread(entries: list[PublishedScore]) -> dict[str, tuple[float, float, int]]:
    """Per benchmark: (lowest, highest, number of published figures). Votes (maj@k, rm@k) are a different measure
    from accuracies and get their own line (``AIME 2024 maj@k``), so the spread never mixes the two."""
    out: dict[str, tuple[float, float, int]] = {}
    for e in entries:
        if e.score is None:
            continue
        key = f"{e.benchmark} {e.metric_kind}" if e.metric_kind in ("maj@k", "rm@k") else e.benchmark
        lo, hi, n = out.get(key, (e.score, e.score, 0))
        out[key] = (min(lo, e.score), max(hi, e.score), n + 1)
    return out

"""The registry of published MATH-500 and MATH scores, and matching a run's model and benchmark to it.

Every source's row is kept (sources disagree; the spread is shown, none is picked). MATH-500 and MATH are
different benchmarks: a run is only ever put beside figures on its own benchmark.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ._published_build import DATA_FILE, normalize_model

#: mathgauge benchmark name -> the registry's canonical benchmark.
RUN_BENCHMARKS = {"math500": "MATH-500", "math": "MATH"}
BENCHMARK_SIZES = {"MATH-500": 500, "MATH": 5000, "MATH-945": 945}


@dataclass(frozen=True)
class PublishedScore:
    """One published figure with its source and the protocol the source states."""

    id: int
    model: str
    model_key: str
    version: str | None
    benchmark: str
    benchmark_label: str
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
            benchmark_label=e["benchmark_label"], score=e["score"], metric=e["metric"], metric_kind=e["metric_kind"],
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
    benchmark (``MATH-500``, ``math500``, ``MATH``, ``math``)."""
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
    """``math500``/``MATH-500`` -> ``MATH-500``; ``math``/``MATH`` -> ``MATH``; others as the registry spells them."""
    low = name.strip().lower().replace("_", "-")
    if low in ("math500", "math-500"):
        return "MATH-500"
    if low == "math":
        return "MATH"
    if low in ("math-945", "math945"):
        return "MATH-945"
    return name


def run_benchmark(config: dict[str, Any], benchmark: str) -> tuple[str, str | None]:
    """The registry benchmark a run can be put beside, and a caveat when the run covers only part of it.

    A run of ``math`` on the 945-problem stratified subset (27 per cell) is ``MATH-945``; any other partial run
    keeps its benchmark with a caveat (its accuracy is not an estimate of the full benchmark's).
    """
    canon = RUN_BENCHMARKS.get(benchmark, benchmark)
    count = config.get("problem_count")
    selection = config.get("selection") or {}
    if canon == "MATH" and selection.get("per_cell") == 27 and count == 945:
        return "MATH-945", None
    full = BENCHMARK_SIZES.get(canon)
    if full and count and count != full:
        return canon, f"the run covers {count} of the {full} {canon} problems; published figures are on all {full}"
    return canon, None


def spread(entries: list[PublishedScore]) -> dict[str, tuple[float, float, int]]:
    """Per benchmark: (lowest, highest, number of published figures)."""
    out: dict[str, tuple[float, float, int]] = {}
    for e in entries:
        if e.score is None:
            continue
        lo, hi, n = out.get(e.benchmark, (e.score, e.score, 0))
        out[e.benchmark] = (min(lo, e.score), max(hi, e.score), n + 1)
    return out

"""Benchmarks and problems: load MATH-500, MATH, AIME, AMC, GSM8K, Minerva Math, OlympiadBench, GaoKao and College
Math from the bundled copies, the hub or a local file; choose subsets; share manifests; name suites of benchmarks
(``qwen-math``, ``r1``)."""

from ._loader import COLUMN_ALIASES, BenchmarkData, LeftOut, load_benchmark, load_problems
from ._problem import MATH_SUBJECTS, NO_SUBJECT, Problem, canonical_subject, subject_slug
from ._readers import READERS, apply_readers
from ._registry import Benchmark, Sampling, benchmark_for_published_name, get_benchmark, list_benchmarks
from ._sampling import sampling_summary, sampling_warning
from ._sources import BUNDLED_DIR, SOURCES, read_jsonl_records
from ._subset import Selection, load_manifest, save_manifest, select_problems
from ._suites import Suite, expand_benchmarks, get_suite, list_suites

__all__ = [
    "BUNDLED_DIR",
    "COLUMN_ALIASES",
    "MATH_SUBJECTS",
    "NO_SUBJECT",
    "READERS",
    "SOURCES",
    "Benchmark",
    "BenchmarkData",
    "LeftOut",
    "Problem",
    "Sampling",
    "Selection",
    "Suite",
    "apply_readers",
    "benchmark_for_published_name",
    "canonical_subject",
    "expand_benchmarks",
    "get_benchmark",
    "get_suite",
    "list_benchmarks",
    "list_suites",
    "load_benchmark",
    "load_manifest",
    "load_problems",
    "read_jsonl_records",
    "sampling_summary",
    "sampling_warning",
    "save_manifest",
    "select_problems",
    "subject_slug",
]

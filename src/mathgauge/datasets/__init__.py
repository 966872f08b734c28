"""Benchmarks and problems: load MATH-500 / MATH from the hub or a local file, choose subsets, share manifests."""

from ._loader import COLUMN_ALIASES, load_problems, read_jsonl_records
from ._problem import MATH_SUBJECTS, Problem, canonical_subject, subject_slug
from ._registry import Benchmark, get_benchmark, list_benchmarks
from ._subset import Selection, load_manifest, save_manifest, select_problems

__all__ = [
    "COLUMN_ALIASES",
    "MATH_SUBJECTS",
    "Benchmark",
    "Problem",
    "Selection",
    "canonical_subject",
    "get_benchmark",
    "list_benchmarks",
    "load_manifest",
    "load_problems",
    "read_jsonl_records",
    "save_manifest",
    "select_problems",
    "subject_slug",
]

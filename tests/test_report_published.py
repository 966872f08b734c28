"""The published-scores registry and `mathgauge scores`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mathgauge.report import load_registry, published_for_model, search_published
from mathgauge.report._published import run_benchmark, split_run_model, version_matches

CSV = Path(__file__).resolve().parents[2] / "shared" / "reference" / "published_scores.csv"
MORE_CSV = Path(__file__).resolve().parents[1] / "tools" / "published_scores" / "more_benchmarks.csv"


def test_registry_keeps_every_reference_row_with_its_source() -> None:
    if not CSV.exists():
        pytest.fail(f"{CSV} not present: tests read ../shared/reference beside the repository")
    rows = []
    for table in (CSV, MORE_CSV):
        with open(table, encoding="utf-8", newline="") as handle:
            rows.extend(csv.DictReader(handle))
    entries = load_registry()
    assert len(entries) == len(rows) == 132 + 86
    for row, e in zip(rows, entries):
        assert e.model == row["model"] and e.benchmark_label == row["benchmark"]
        assert e.score == (float(row["score"]) if row["score"] else None)
        assert e.metric == row["metric"] and e.mode == row["mode"] and e.settings == row["settings"]
        assert e.grader == row["grader"] and e.source_date == row["source_date"] and e.notes == row["notes"]
        assert " ; ".join(e.source_urls) == row["source_url"]
    # the builder's parsed fields on a few known rows
    r1 = [e for e in entries if e.model == "DeepSeek-R1" and e.score == 97.3][0]
    assert (r1.benchmark, r1.metric_kind, r1.temperature, r1.top_p, r1.max_tokens, r1.samples) == (
        "MATH-500", "avg@k", 0.6, 0.95, 32768, 64)
    assert r1.mode_kind == "thinking" and r1.provenance == "self-reported"
    gpt = [e for e in entries if e.model == "GPT-4o (2024-08-06)" and e.benchmark == "MATH"][0]
    assert (gpt.model_key, gpt.version, gpt.samples, gpt.temperature, gpt.grader_kind) == (
        "gpt-4o", "2024-08-06", 10, 0.5, "llm-judge")
    pot = [e for e in entries if e.model == "gpt-4o-mini-2024-07-18"][0]
    assert pot.benchmark == "MATH-945" and pot.mode_kind == "pot" and pot.score == 83.7


def test_model_matching_and_never_mixing_benchmarks() -> None:
    assert split_run_model("openai/gpt-4o-2024-08-06") == ("gpt-4o", "2024-08-06")
    assert split_run_model("claude-3-5-sonnet-20241022") == ("claude-3.5-sonnet", "2024-10-22")
    assert split_run_model("Qwen/Qwen2.5-7B-Instruct") == ("qwen2.5-7b-instruct", None)
    assert split_run_model("deepseek-r1:7b") == ("deepseek-r1-distill-qwen-7b", None)  # an Ollama tag
    assert split_run_model("qwen2.5:7b") == ("qwen2.5-7b-instruct", None)
    qwen = published_for_model("Qwen/Qwen2.5-7B-Instruct")
    assert sorted((e.benchmark, e.score) for e in qwen) == [
        ("MATH", 60.4), ("MATH", 75.5), ("MATH-500", 77.1), ("MATH-500", 77.6)]
    only500 = search_published("Qwen/Qwen2.5-7B-Instruct", "math500")
    assert {e.benchmark for e in only500} == {"MATH-500"} and len(only500) == 2
    entries = published_for_model("gpt-4o-2024-08-06")
    same = [e.score for e in entries if version_matches(e, "gpt-4o-2024-08-06")]
    other = [e.score for e in entries if version_matches(e, "gpt-4o-2024-08-06") is False]
    assert sorted(same) == [75.2, 75.9] and 68.5 in other and 76.6 in other
    # benchmark of a run: full MATH-500, partial, and the 945 stratified subset
    assert run_benchmark("math500", 500) == ("MATH-500", None)
    bench, caveat = run_benchmark("math500", 40)
    assert bench == "MATH-500" and "40 of the 500" in caveat
    assert run_benchmark("math", 945, per_cell=27) == ("MATH-945", None)


def test_scores_cli_lists_rows_spread_and_missing_numbers(run_cli) -> None:
    result = run_cli("scores", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "--benchmark", "math500", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert sorted(e["score"] for e in doc) == [91.4, 91.8, 92.8, 94.1, 94.5]
    assert all(e["benchmark"] == "MATH-500" and e["source_urls"] for e in doc)

    result = run_cli("scores", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    assert result.code == 0
    assert "MATH-500: 5 published figure(s), spread 91.4 - 94.5" in result.out
    assert "open-r1" in result.out and "2025-01-20" in result.out

    result = run_cli("scores", "QVQ-72B-Preview")
    assert "QVQ-72B-Preview on MATH-500: no published number." in result.out

    result = run_cli("scores", "no-such-model-xyz")
    assert result.code == 0 and "No published scores for 'no-such-model-xyz'" in result.out

    result = run_cli("scores", "--benchmark", "gsm9k")
    assert result.code == 2 and result.err.startswith("error: unknown benchmark 'gsm9k'")

    result = run_cli("scores", "--benchmark", "math", "--json")
    assert {e["benchmark"] for e in json.loads(result.out)} == {"MATH"}


def test_registry_file_is_packaged_data_built_by_a_tool_outside_the_package(tmp_path: Path) -> None:
    import importlib.util
    import subprocess
    import sys

    from mathgauge.report._published import DATA_FILE

    assert Path(DATA_FILE).name == "published_scores.json" and Path(DATA_FILE).exists()
    doc = json.loads(Path(DATA_FILE).read_text(encoding="utf-8"))
    assert "published_scores.csv" in doc["about"] and len(doc["entries"]) == 218
    assert doc["tables"] == ["published_scores.csv", "more_benchmarks.csv"]
    assert importlib.util.find_spec("mathgauge.report._published_build") is None  # the builder is not runtime code
    # the shipped JSON is exactly what the build tool makes from the two tables
    builder = MORE_CSV.parent / "build.py"
    spec = importlib.util.spec_from_file_location("published_build", builder)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build([CSV, MORE_CSV]) == doc["entries"]


def test_scores_beyond_math_list_sources_and_metrics(run_cli) -> None:
    result = run_cli("scores", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "--benchmark", "aime24", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert sorted((e["score"], e["metric"]) for e in doc) == [
        (52.3, "avg over seeds (pass@1 mean, std 6.3)"), (55.5, "pass@1 (avg@64)"), (83.3, "cons@64 (maj@64)")]
    assert all(e["benchmark"] == "AIME 2024" and e["benchmark_key"] == "aime24" and e["source_urls"] for e in doc)
    own = [e for e in doc if e["score"] == 55.5][0]
    assert (own["metric_kind"], own["samples"], own["temperature"], own["source_date"]) == ("avg@k", 64, 0.6,
                                                                                           "2025-01-20")
    assert "github.com/deepseek-ai/DeepSeek-R1" in own["source_urls"][0]
    # the same benchmark under any spelling; every benchmark listed apart
    assert search_published("DeepSeek-R1-Distill-Qwen-7B", "AIME 2024") == search_published(
        "DeepSeek-R1-Distill-Qwen-7B", "aime24")
    result = run_cli("scores", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "--benchmark", "AIME 2024")
    assert "AIME 2024: 2 published figure(s), spread 52.3 - 55.5" in result.out
    assert "AIME 2024 maj@k: 1 published figure(s), spread 83.3 - 83.3" in result.out
    result = run_cli("scores", "meta-llama/Llama-3.2-1B-Instruct")
    assert result.code == 0
    assert "GSM8K: 2 published figure(s), spread 26.8 - 44.4" in result.out
    assert "em_maj1@1" in result.out and "MATH: " in result.out
    gsm = search_published("Llama-3.1-8B-Instruct", "gsm8k")
    assert [(e.score, e.shots, e.metric) for e in gsm] == [(84.5, 8, "em_maj1@1")]


def test_like_with_like_benchmark_and_metric() -> None:
    from mathgauge.report._published import canonical_benchmark_name, comparable

    assert canonical_benchmark_name("aime24") == canonical_benchmark_name("AIME'24") == "AIME 2024"
    assert canonical_benchmark_name("math") == "MATH" and canonical_benchmark_name("math500") == "MATH-500"
    entries = {e.metric: e for e in search_published("DeepSeek-R1-Distill-Qwen-7B", "aime24")}
    avg64, cons, sober = (entries["pass@1 (avg@64)"], entries["cons@64 (maj@64)"],
                          entries["avg over seeds (pass@1 mean, std 6.3)"])
    one, many = 1, 16  # samples per problem
    assert comparable(avg64, one)[0] is False and "averages many samples" in comparable(avg64, one)[1]
    assert comparable(avg64, many) == (True, None) and comparable(sober, many) == (True, None)
    assert comparable(cons, many)[0] is False and comparable(cons, one)[0] is False
    # MATH-500 is not reported as avg@k: a greedy run stays beside avg@64 figures (the gap names the difference)
    r1_500 = [e for e in search_published("DeepSeek-R1-Distill-Qwen-7B", "math500") if e.score == 92.8][0]
    assert comparable(r1_500, one) == (True, None)
    assert run_benchmark("aime24", 30) == ("AIME 2024", None)
    assert run_benchmark("gaokao2023en", 383)[1].startswith("the run covers 383 of the 385")

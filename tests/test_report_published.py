"""The published-scores registry and `mathgauge scores`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mathgauge.report import load_registry, published_for_model, search_published
from mathgauge.report._published import run_benchmark, split_run_model, version_matches

CSV = Path(__file__).resolve().parents[2] / "shared" / "reference" / "published_scores.csv"


def test_registry_keeps_every_reference_row_with_its_source() -> None:
    if not CSV.exists():
        pytest.skip(f"{CSV} not present")
    with open(CSV, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    entries = load_registry()
    assert len(entries) == len(rows) == 132
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
    assert run_benchmark({"problem_count": 500}, "math500") == ("MATH-500", None)
    bench, caveat = run_benchmark({"problem_count": 40}, "math500")
    assert bench == "MATH-500" and "40 of the 500" in caveat
    assert run_benchmark({"problem_count": 945, "selection": {"per_cell": 27}}, "math") == ("MATH-945", None)


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

    result = run_cli("scores", "--benchmark", "gsm8k")
    assert result.code == 2 and result.err.startswith("error: unknown benchmark 'gsm8k'")

    result = run_cli("scores", "--benchmark", "math", "--json")
    assert {e["benchmark"] for e in json.loads(result.out)} == {"MATH"}


def test_registry_file_is_packaged_data() -> None:
    from mathgauge.report._published_build import DATA_FILE

    assert Path(DATA_FILE).name == "published_scores.json" and Path(DATA_FILE).exists()
    doc = json.loads(Path(DATA_FILE).read_text(encoding="utf-8"))
    assert "published_scores.csv" in doc["about"] and len(doc["entries"]) == 132

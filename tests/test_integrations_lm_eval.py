"""The ``mathgauge_math500`` / ``mathgauge_math`` lm-evaluation-harness tasks.

The slow test runs the real ``lm_eval`` (``local-chat-completions``) against the scripted OpenAI-compatible server,
offline, on the shared MATH-500 copy, and checks that lm-eval's reported score equals mathgauge's own score on the
same responses (and that re-scoring lm-eval's samples file flips nothing).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mathgauge.datasets import load_problems
from mathgauge.integrations import lm_eval_path
from mathgauge.prompts import load_template
from mathgauge.testing import scripted_server

TASK_DIR = lm_eval_path()
SUBJECTS = ("prealgebra", "algebra", "number_theory", "counting_and_probability", "geometry",
            "intermediate_algebra", "precalculus")


def _utils():
    """The task folder's helper module, loaded from its file as lm-eval does (not as a top-level ``utils``)."""
    spec = importlib.util.spec_from_file_location("mathgauge_lm_eval_utils", TASK_DIR / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_task_files_name_every_task_and_the_shared_settings() -> None:
    text = (TASK_DIR / "_mathgauge_template.yaml").read_text(encoding="utf-8")
    assert "process_results: !function utils.process_results" in text
    assert "until: []" in text and "num_fewshot: 0" in text
    assert "task: mathgauge_math500" in (TASK_DIR / "mathgauge_math500.yaml").read_text(encoding="utf-8")
    group = (TASK_DIR / "mathgauge_math.yaml").read_text(encoding="utf-8")
    for slug in SUBJECTS:
        assert f"  - mathgauge_math_{slug}" in group
        sub = (TASK_DIR / f"mathgauge_math_{slug}.yaml").read_text(encoding="utf-8")
        assert f"task: mathgauge_math_{slug}" in sub and f"subject: {slug}" in sub


def test_prompt_and_grading_are_mathgauges(math500_path: Path) -> None:
    utils = _utils()
    problem = load_problems("math500", data_file=math500_path)[0]
    doc = {"problem": problem.problem, "answer": problem.answer}
    assert utils.doc_to_text(doc) == load_template().render(problem.problem)[-1]["content"]
    assert utils.process_results(doc, [f"so $\\boxed{{{problem.answer}}}$"]) == {"exact_match": 1, "no_answer": 0}
    assert utils.process_results(doc, ["The answer is \\boxed{17}"]) == {"exact_match": 0, "no_answer": 0}
    assert utils.process_results(doc, ["I am not able to finish this one."]) == {"exact_match": 0, "no_answer": 1}


BEYOND_MATH = ("aime24", "aime25", "amc23", "gsm8k", "minerva_math", "olympiadbench", "gaokao2023en", "college_math")


def test_every_benchmark_has_a_task_and_the_small_contests_are_avg_at_16() -> None:
    for name in BEYOND_MATH:
        text = (TASK_DIR / f"mathgauge_{name}.yaml").read_text(encoding="utf-8")
        assert f"task: mathgauge_{name}" in text and f"  benchmark: {name}" in text
        assert "include: _mathgauge_template.yaml" in text
        sampled = name in ("aime24", "aime25", "amc23")
        assert ("repeats: 16" in text and "function: take_first_k" in text and "temperature: 0.6" in text) == sampled


def test_repeated_responses_score_their_mean() -> None:
    utils = _utils()
    doc = {"problem": "What is 6*7?", "answer": "42"}
    responses = ["\\boxed{42}"] * 3 + ["\\boxed{41}", "I am not able to finish this one."]
    assert utils.process_results(doc, [responses]) == {"exact_match": 3 / 5, "no_answer": 1 / 5}
    assert utils.process_results(doc, [responses[:1]]) == {"exact_match": 1, "no_answer": 0}


def test_dataset_loader_filters_subjects(math_test_path: Path) -> None:
    pytest.importorskip("datasets")
    utils = _utils()
    data = utils.load_dataset(benchmark="math", data_files={"math": str(math_test_path)}, subject="number_theory")
    assert len(data["test"]) == 540 and set(data["test"]["subject"]) == {"Number Theory"}


def _lm_eval(server_url: str, tasks: str, out: Path, metadata: dict, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "lm_eval", "--model", "local-chat-completions",
           "--model_args", f"model=scripted,base_url={server_url}/chat/completions,num_concurrent=16,max_retries=2",
           "--apply_chat_template", "--include_path", str(TASK_DIR), "--tasks", tasks,
           "--metadata", json.dumps(metadata), "--output_path", str(out), "--log_samples", *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_lm_eval_score_equals_mathgauges_on_the_same_responses(math500_path, math_test_path, small_data, tmp_path,
                                                              run_cli) -> None:
    pytest.importorskip("lm_eval")
    pytest.importorskip("tenacity")  # lm-eval's API models need it (lm-eval[api])
    with scripted_server("--data", str(math500_path)) as server:
        proc = _lm_eval(server.base_url, "mathgauge_math500", tmp_path / "out", {"data_file": str(math500_path)})
        assert proc.returncode == 0, proc.stderr[-3000:]
        results_file = next((tmp_path / "out").rglob("results_*.json"))
        results = json.loads(results_file.read_text(encoding="utf-8"))["results"]["mathgauge_math500"]
        summary = tmp_path / "s.json"
        mg = run_cli("run", "--model", "scripted", "--base-url", server.base_url, "--data-file", str(math500_path),
                     "--store", str(tmp_path / "mg.db"), "--summary-json", str(summary), "--quiet")
        assert mg.code == 0, mg.err
        ours = json.loads(summary.read_text(encoding="utf-8"))
    assert ours["n"] == 500
    assert results["exact_match,none"] == pytest.approx(ours["accuracy"], abs=1e-12)
    assert results["no_answer,none"] == pytest.approx(ours["no_answer"] / 500, abs=1e-12)
    # Re-scoring lm-eval's own samples file with mathgauge flips nothing.
    samples = next((tmp_path / "out").rglob("samples_mathgauge_math500_*.jsonl"))
    re = run_cli("rescore", str(samples), "--from", "lm-eval", "--data-file", str(math500_path),
                 "--store", str(tmp_path / "re.db"), "--summary-json", str(tmp_path / "re.json"))
    assert re.code == 0, re.err
    doc = json.loads((tmp_path / "re.json").read_text(encoding="utf-8"))
    assert doc["model"] == "scripted" and doc["unmatched"] == 0
    assert doc["n"] == 500 and doc["correct"] == ours["correct"] and doc["original"]["correct"] == ours["correct"]
    assert doc["flips"] == []


@pytest.mark.slow
def test_lm_eval_math_group_runs_every_subject(math500_path, math_test_path, tmp_path) -> None:
    pytest.importorskip("lm_eval")
    pytest.importorskip("tenacity")
    with scripted_server("--data", str(math500_path)) as server:
        proc = _lm_eval(server.base_url, "mathgauge_math", tmp_path / "out",
                        {"data_files": {"math": str(math_test_path)}}, "--limit", "4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text(encoding="utf-8"))["results"]
    assert {f"mathgauge_math_{s}" for s in SUBJECTS} <= set(results)
    assert "exact_match,none" in results["mathgauge_math"]


@pytest.mark.slow
def test_lm_eval_aime_avg_at_16_equals_mathgauges_score(tmp_path, run_cli) -> None:
    from conftest import require_modules

    require_modules("lm_eval", "tenacity", extra="lm-eval")
    from mathgauge.testing import ScriptRates, scripted_outcome

    aime = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "more" / "aime24.jsonl"
    with scripted_server("--data", str(aime), "--benchmark", "aime24", "--correct-rate", "0.5") as server:
        proc = _lm_eval(server.base_url, "mathgauge_aime24", tmp_path / "out", {"data_file": str(aime)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text(encoding="utf-8"))["results"]
    problems = load_problems("aime24", data_file=aime)
    expected = sum(scripted_outcome(p.problem, ScriptRates(correct=0.5)) == "correct" for p in problems) / 30
    assert results["mathgauge_aime24"]["exact_match,avg@16"] == pytest.approx(expected, abs=1e-12)
    # its samples file re-scored: the benchmark comes from the task name, 16 responses per problem
    samples = next((tmp_path / "out").rglob("samples_mathgauge_aime24_*.jsonl"))
    re = run_cli("rescore", str(samples), "--from", "lm-eval", "--data-file", str(aime),
                 "--store", str(tmp_path / "re.db"), "--summary-json", str(tmp_path / "re.json"))
    assert re.code == 0, re.err
    doc = json.loads((tmp_path / "re.json").read_text(encoding="utf-8"))
    assert doc["n"] == 30 * 16 and doc["unmatched"] == 0 and doc["correct"] == round(expected * 30) * 16

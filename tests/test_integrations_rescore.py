"""`mathgauge rescore`: other harnesses' files (built here in each tool's documented layout) imported and re-graded.

Each fixture holds scripted responses (boxed correct answers, wrong answers, no answer, and Minerva-style
"Final Answer:" lines) with "original" verdicts that deliberately disagree with a correct grader on some of them
(the failure modes reported for other harnesses), so the flips are known in advance.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mathgauge.datasets import Problem, load_problems
from mathgauge.integrations import rescore
from mathgauge.integrations.rescore import read_file

N = 24


def _response(i: int, gold: str) -> tuple[str, bool, bool]:
    """(response text, mathgauge verdict, original verdict) for the i-th problem."""
    kind = i % 6
    if kind == 0:  # boxed and right; the other tool missed the \boxed{} answer
        return f"We compute carefully.\nSo the answer is $\\boxed{{{gold}}}$.", True, False
    if kind == 1:  # boxed and right; both agree
        return f"Thus $\\boxed{{{gold}}}$.", True, True
    if kind == 2:  # Minerva style, right
        return f"Steps.\nFinal Answer: The final answer is ${gold}$. I hope it is correct.", True, True
    if kind == 3:  # wrong; both agree
        return "So the answer is $\\boxed{999999}$.", False, False
    if kind == 4:  # no answer; the other tool counted it right (a lenient matcher)
        return "I could not finish.", False, True
    return f"Answer: $\\boxed{{{gold}}}$", True, True


@pytest.fixture(scope="module")
def problems(math500_path: Path) -> list[Problem]:
    return load_problems("math500", data_file=math500_path)[:N]


@pytest.fixture(scope="module")
def rows(math500_path: Path) -> list[dict[str, Any]]:
    lines = math500_path.read_text(encoding="utf-8").splitlines()[:N]
    return [json.loads(line) for line in lines]


def _expected(problems: list[Problem]) -> tuple[int, int, int]:
    ours = orig = flips = 0
    for i, p in enumerate(problems):
        _, mine, theirs = _response(i, p.answer)
        ours += mine
        orig += theirs
        flips += mine != theirs
    return ours, orig, flips


# ---------------------------------------------------------------------------------------------------- fixtures
def write_lm_eval(folder: Path, rows: list[dict[str, Any]]) -> Path:
    """lm-eval --log_samples layout: samples_<task>_<date>.jsonl plus results_<date>.json beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    date = "2026-01-02T03-04-05.678901"
    path = folder / f"samples_minerva_math500_{date}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i, row in enumerate(rows):
            text, _, theirs = _response(i, row["answer"])
            prompt = f"Problem:\n{row['problem']}\n\nSolution:"
            sample = {
                "doc_id": i, "doc": row, "target": row["answer"],
                "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": {"until": ["Problem:"], "do_sample": False,
                                                                        "temperature": 0.0}}},
                "resps": [[text]], "filtered_resps": [text], "filter": "none",
                "metrics": ["exact_match", "math_verify"],
                "doc_hash": "d" * 64, "prompt_hash": "p" * 64, "target_hash": "t" * 64,
                "exact_match": 1.0 if theirs else 0.0, "math_verify": 0.0,
            }
            handle.write(json.dumps(sample) + "\n")
    results = {"results": {"minerva_math500": {"alias": "minerva_math500", "exact_match,none": 0.5}},
               "configs": {"minerva_math500": {"task": "minerva_math500", "num_fewshot": 4,
                                               "generation_kwargs": {"until": ["Problem:"], "do_sample": False}}},
               "config": {"model": "local-chat-completions", "model_args": "model=org/Some-Model-7B,base_url=x"},
               "model_name": "org/Some-Model-7B"}
    (folder / f"results_{date}.json").write_text(json.dumps(results), encoding="utf-8")
    return path


def write_lighteval(folder: Path, rows: list[dict[str, Any]], *, old: bool = False) -> Path:
    """lighteval --save-details layout: details/<org>/<model>/<time>/details_<task>_<time>.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = folder / "details" / "org" / "Light-Model" / "2026-01-02T03-04-05"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "details_lighteval|math_500|0_2026-01-02T03-04-05.parquet"
    records = []
    for i, row in enumerate(rows):
        text, _, theirs = _response(i, row["answer"])
        query = f"Solve the following math problem step by step.\n\n{row['problem']}\n\nRemember to box your answer."
        if old:
            records.append({
                "example": query, "instruction": "", "full_prompt": query, "num_effective_few_shots": 0,
                "num_asked_few_shots": 0, "predictions": json.dumps([text]), "gold": json.dumps([row["solution"]]),
                "metrics": repr({"extractive_match": 1.0 if theirs else 0.0}), "specifics": "{}",
            })
        else:
            records.append({
                "doc": {"query": query, "choices": [row["solution"]], "gold_index": [0], "instruction": "",
                        "task_name": "lighteval|math_500", "specific": None},
                "model_response": {"text": [text], "input_tokens": [], "output_tokens": [[]]},
                "metric": {"extractive_match": 1.0 if theirs else 0.0},
            })
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def write_opencompass(root: Path, rows: list[dict[str, Any]], *, chat: bool = True) -> Path:
    """OpenCompass layout: <work_dir>/<time>/predictions/<model>/<dataset>.json and results/<model>/<dataset>.json."""
    run = root / "outputs" / "default" / "20260102_030405"
    pred_dir, result_dir = run / "predictions" / "oc-model", run / "results" / "oc-model"
    pred_dir.mkdir(parents=True, exist_ok=True)
    result_dir.mkdir(parents=True, exist_ok=True)
    predictions, details = {}, []
    for i, row in enumerate(rows):
        text, _, theirs = _response(i, row["answer"])
        question = f"{row['problem']}\nPlease reason step by step, and put your final answer within \\boxed{{}}."
        prompt: Any = [{"role": "HUMAN", "prompt": question}] if chat else question
        predictions[str(i)] = {"origin_prompt": prompt, "prediction": text, "gold": row["answer"]}
        details.append({"pred": row["answer"] if theirs else "[invalid]", "answer": row["answer"], "correct": theirs})
    path = pred_dir / "math-500.json"
    path.write_text(json.dumps(predictions, indent=4, ensure_ascii=False), encoding="utf-8")
    correct = sum(d["correct"] for d in details)
    (result_dir / "math-500.json").write_text(
        json.dumps({"accuracy": 100 * correct / len(details), "details": details}), encoding="utf-8")
    return path


def write_qwen_eval(folder: Path, rows: list[dict[str, Any]]) -> Path:
    """Qwen2.5-Math math_eval.py output: one line per problem with code/pred/report/score lists."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "test_qwen25-math-cot_-1_seed0_t0.0_s0_e-1.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i, row in enumerate(rows):
            text, _, theirs = _response(i, row["answer"])
            sample = {"idx": i, "question": row["problem"], "gt_cot": row["solution"], "gt": row["answer"],
                      "level": row["level"], "unique_id": row["unique_id"], "answer": row["answer"],
                      "subject": row["subject"], "code": [text], "pred": [row["answer"] if theirs else ""],
                      "report": [None], "score": [theirs]}
            handle.write(json.dumps(sample, ensure_ascii=False) + "\n")
    return path


def write_plain(folder: Path, rows: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plain.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i, row in enumerate(rows):
            text, _, theirs = _response(i, row["answer"])
            handle.write(json.dumps({"problem": row["problem"], "gold_answer": row["answer"], "response": text,
                                     "correct": theirs, "model": "plain-model"}) + "\n")
    return path


WRITERS = {
    "lm-eval": write_lm_eval,
    "lighteval": write_lighteval,
    "opencompass": write_opencompass,
    "qwen-eval": write_qwen_eval,
    "jsonl": write_plain,
}
MODELS = {"lm-eval": "org/Some-Model-7B", "lighteval": "org/Light-Model", "opencompass": "oc-model",
          "qwen-eval": "unknown", "jsonl": "plain-model"}


# ---------------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("fmt", list(WRITERS))
def test_rescore_reports_original_and_regraded_scores_and_every_flip(fmt, tmp_path, rows, problems, math500_path,
                                                                    run_cli, regrade_changes_nothing) -> None:
    path = WRITERS[fmt](tmp_path / "in", rows)
    db, summary = tmp_path / "r.db", tmp_path / "s.json"
    result = run_cli("rescore", str(path), "--from", fmt, "--data-file", str(math500_path), "--store", str(db),
                     "--summary-json", str(summary), "--run-name", f"re-{fmt}")
    assert result.code == 0, result.err
    ours, orig, flips = _expected(problems)
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert doc["n"] == N and doc["correct"] == ours
    assert doc["original"]["n"] == N and doc["original"]["correct"] == orig
    assert len(doc["flips"]) == flips
    assert doc["model"] == MODELS[fmt]
    assert doc["unmatched"] == 0
    assert "original score" in result.out and f"{orig}/{N}" in result.out
    assert f"mathgauge score: {ours}/{N}" in result.out
    # Every flip is shown with both extracted answers side by side.
    by_id = {p.id: p for p in problems}
    for flip in doc["flips"]:
        assert flip["problem_id"] in by_id
        assert flip["problem_id"] in result.out
        i = problems.index(by_id[flip["problem_id"]])
        _, mine, theirs = _response(i, by_id[flip["problem_id"]].answer)
        assert flip["original_correct"] == theirs and (flip["status"] == "correct") == mine
    # Stored as a run of mode "rescore": one imported attempt per response, both verdicts kept.
    with sqlite3.connect(db) as conn:
        config = json.loads(conn.execute("SELECT config_json FROM runs").fetchone()[0])
        assert config["mode"] == "rescore" and config["source"]["format"] == fmt
        assert conn.execute("SELECT COUNT(*), MIN(kind), MAX(kind) FROM attempts").fetchone() == (N, "imported",
                                                                                                  "imported")
        assert conn.execute("SELECT COUNT(*) FROM grades WHERE grader = 'rules'").fetchone() == (N,)
        assert conn.execute("SELECT COUNT(*), SUM(correct) FROM grades WHERE grader = 'original'").fetchone() == (
            N, orig)
        assert set(r[0] for r in conn.execute("SELECT problem_id FROM problems")) == set(by_id)
    # The stored run is an ordinary run for the other commands.
    shown = run_cli("show", f"re-{fmt}", "--store", str(db))
    assert shown.code == 0 and f"{ours}/{N}" in shown.out
    # Graded by the grading stage runs use, on the imported response: re-grading it changes nothing.
    regrade_changes_nothing(db, f"re-{fmt}")


def test_lm_eval_settings_and_prompt_are_imported(tmp_path, rows, math500_path) -> None:
    path = write_lm_eval(tmp_path, rows)
    imported = read_file(path, "lm-eval")
    assert imported.model == "org/Some-Model-7B"
    assert imported.original_metric == "exact_match"
    assert imported.settings["num_fewshot"] == 4
    assert imported.records[0].prompt.startswith("Problem:\n")
    result = rescore(path, "lm-eval", data_file=str(math500_path), store=tmp_path / "x.db",
                     original_metric="math_verify")
    assert result.original_metric == "math_verify" and result.original_correct == 0


def test_qwen_eval_model_and_settings_from_its_output_layout(tmp_path, rows) -> None:
    folder = tmp_path / "Qwen2.5-Math-7B-Instruct" / "math_eval" / "math500"
    write_qwen_eval(folder, rows)
    imported = read_file(next(folder.glob("*.jsonl")), "qwen-eval")
    assert imported.model == "Qwen2.5-Math-7B-Instruct"
    assert imported.settings == {"split": "test", "prompt_type": "qwen25-math-cot", "seed": 0, "temperature": 0.0}


def test_older_lighteval_layout_and_plain_prompt_opencompass(tmp_path, rows, problems, math500_path) -> None:
    ours, orig, flips = _expected(problems)
    old = rescore(write_lighteval(tmp_path / "a", rows, old=True), "lighteval", data_file=str(math500_path),
                  store=tmp_path / "x.db")
    assert (old.correct, old.original_correct, len(old.flips)) == (ours, orig, flips)
    oc = rescore(write_opencompass(tmp_path / "b", rows, chat=False), "opencompass", data_file=str(math500_path),
                 store=tmp_path / "x.db")
    assert (oc.correct, oc.original_correct, len(oc.flips)) == (ours, orig, flips)


def test_full_math_matched_by_text_and_unknown_problems_use_the_file_gold(tmp_path, rows, math_test_path) -> None:
    path = write_plain(tmp_path, rows)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"problem": "What is 1+1?", "gold_answer": "2", "response": "$\\boxed{2}$",
                                 "correct": False}) + "\n")
    result = rescore(path, "jsonl", benchmark="math", data_file=str(math_test_path), store=tmp_path / "m.db")
    assert result.n == N + 1 and result.unmatched == 1
    assert any("not found in benchmark 'math'" in note for note in result.notes)
    with sqlite3.connect(tmp_path / "m.db") as conn:
        ids = [r[0] for r in conn.execute("SELECT problem_id FROM problems")]
    assert sum(i.startswith("math/") for i in ids) == N  # MATH rows have no ids: matched by text
    assert sum(i.startswith("imported/") for i in ids) == 1
    # Without a benchmark, every record is graded against its own gold answer.
    alone = rescore(path, "jsonl", benchmark=None, store=tmp_path / "n.db")
    assert alone.n == N + 1 and alone.correct == result.correct


def test_several_responses_per_problem_become_samples(tmp_path, rows, math500_path) -> None:
    path = tmp_path / "multi.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for row in rows[:3]:
            sample = {"idx": 0, "question": row["problem"], "gt": row["answer"],
                      "code": [f"$\\boxed{{{row['answer']}}}$", "no idea", "$\\boxed{0.123}$", "$\\boxed{1.5}$"],
                      "pred": [row["answer"], "", "0.123", "1.5"], "score": [True, False, False, True]}
            handle.write(json.dumps(sample) + "\n")
    result = rescore(path, "qwen-eval", data_file=str(math500_path), store=tmp_path / "k.db")
    assert result.n == 12 and result.correct == 3 and result.original_correct == 6
    with sqlite3.connect(tmp_path / "k.db") as conn:
        assert conn.execute("SELECT COUNT(*), MAX(sample_index) FROM samples").fetchone() == (12, 3)
        assert json.loads(conn.execute("SELECT config_json FROM runs").fetchone()[0])["sampling"]["samples"] == 4


@pytest.mark.parametrize("fmt,content,message", [
    ("lm-eval", '{"doc": {"problem": "x"}}\n', "{path}:1: missing field 'resps'"),
    ("lm-eval", '{"doc": {"problem": "x"}, "resps": [[1]]}\n', "{path}:1: field 'resps[0]' must be a string"),
    ("lm-eval", '{"doc": 3, "resps": [["a"]]}\n', "{path}:1: field 'doc' must be an object"),
    ("lm-eval", '\n{"doc": {}, "resps": [["a"]]}\n{"doc": {}\n', "{path}:3: invalid JSON"),
    ("qwen-eval", '{"question": "x", "gt": "1"}\n', "{path}:1: missing field 'code'"),
    ("qwen-eval", '{"question": "x", "gt": "1", "code": ["a"], "score": ["maybe"]}\n',
     "{path}:1: field 'score' must be a list of true/false"),
    ("jsonl", '{"problem": "x", "gold_answer": "1"}\n', "{path}:1: missing field 'response'"),
    ("jsonl", '{"problem": 5, "response": "a"}\n', "{path}:1: field 'problem' must be a string"),
    ("jsonl", '{"problem": "Not a MATH problem", "response": "a"}\n',
     "{path}:1: problem not found in the benchmark and the record has no gold answer"),
    ("opencompass", '[1, 2]', "{path}: expected a JSON object keyed by sample index"),
    ("opencompass", '{"0": {"origin_prompt": "x"}}', "{path} key '0': missing field 'prediction'"),
])
def test_malformed_files_name_the_file_line_and_field(fmt, content, message, tmp_path, math500_path,
                                                      run_cli) -> None:
    path = tmp_path / ("in.json" if fmt == "opencompass" else "in.jsonl")
    path.write_text(content, encoding="utf-8")
    result = run_cli("rescore", str(path), "--from", fmt, "--data-file", str(math500_path),
                     "--store", str(tmp_path / "e.db"))
    assert result.code == 2
    assert result.err.startswith("error: ") and message.format(path=path) in result.err
    assert "Traceback" not in result.err


def test_lighteval_file_that_is_not_a_details_file(tmp_path, math500_path, run_cli) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "details.parquet"
    pq.write_table(pa.Table.from_pylist([{"a": 1}]), path)
    result = run_cli("rescore", str(path), "--from", "lighteval", "--data-file", str(math500_path),
                     "--store", str(tmp_path / "e.db"))
    assert result.code == 2 and "not a lighteval details file" in result.err and "found a" in result.err
    path.write_text("not parquet", encoding="utf-8")
    result = run_cli("rescore", str(path), "--from", "lighteval", "--data-file", str(math500_path),
                     "--store", str(tmp_path / "e.db"))
    assert result.code == 2 and "cannot read Parquet file" in result.err


def test_lm_eval_path_command(run_cli) -> None:
    result = run_cli("lm-eval-path")
    assert result.code == 0
    folder = Path(result.out.strip())
    assert (folder / "mathgauge_math500.yaml").exists() and (folder / "utils.py").exists()


def test_the_benchmark_a_file_names_is_used_and_its_gold_read_by_the_registry(tmp_path) -> None:
    from mathgauge.integrations.rescore._formats import benchmark_hint

    assert [benchmark_hint(t) for t in ("mathgauge_aime24", "gsm8k_cot", "math_500", "mathgauge_math_algebra",
                                        "minerva_math500", None)] == ["aime24", "gsm8k", "math500", "math", None, None]
    gsm_path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "more" / "gsm8k.jsonl"
    raw = [json.loads(line) for line in gsm_path.read_text(encoding="utf-8").splitlines()[:6]]
    # Qwen2.5-Math's math_eval.py output for GSM8K: its `gt` is the number; give it the whole worked solution
    # instead, as a careless export would: the registry's reader (after ####) must decide the reference
    folder = tmp_path / "Qwen2.5-Math-7B-Instruct" / "math_eval" / "gsm8k"
    folder.mkdir(parents=True)
    path = folder / "test_qwen25-math-cot_-1_seed0_t0.0_s0_e-1.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i, row in enumerate(raw):
            answer = row["answer"].rsplit("####", 1)[1].strip().replace(",", "")
            text = f"... so the total is $\\boxed{{{answer if i % 2 == 0 else 1}}}$."
            handle.write(json.dumps({"idx": i, "question": row["question"], "gt": row["answer"], "code": [text],
                                     "pred": [answer], "score": [True]}) + "\n")
    result = rescore(path, "qwen-eval", store=tmp_path / "g.db")  # no --benchmark: gsm8k, from the bundled copy
    assert result.run.benchmark == "gsm8k" and result.unmatched == 0
    assert (result.n, result.correct, result.original_correct) == (6, 3, 6)
    assert any("benchmark gsm8k (named by the file's task or folder" in n for n in result.notes)
    assert sorted(f.gold for f in result.flips) == sorted(
        r["answer"].rsplit("####", 1)[1].strip().replace(",", "") for i, r in enumerate(raw) if i % 2)

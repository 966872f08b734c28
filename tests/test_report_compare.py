"""`mathgauge compare`: exact McNemar, paired bootstrap, per-subject/level differences, unfair-settings warnings,
bad input; runs written through the Store API (exact control of every verdict) and through the scripted server."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from mathgauge.datasets import Problem, load_problems
from mathgauge.grading import Verdict
from mathgauge.pipeline import GradeRecord
from mathgauge.report import compare_runs, mcnemar_exact, paired_bootstrap, wilson_interval
from mathgauge.solve import Attempt, Gradable
from mathgauge.store import Store
from mathgauge.testing import ScriptRates, scripted_outcome, scripted_server

# -- helpers shared by the report tests -------------------------------------------------------------------------


def base_config(benchmark: str = "math500", count: int = 0, **sampling: Any) -> dict[str, Any]:
    s = {"temperature": 0.0, "top_p": None, "max_tokens": None, "seed": None, "samples": 1}
    s.update(sampling)
    return {
        "benchmark": benchmark, "problem_count": count, "problems_sha256": "x", "model": "m",
        "base_url": "http://127.0.0.1:1/v1",
        "prompt_template": {"name": "cot_boxed", "system": "", "user": "{problem}", "answer_format": "boxed"},
        "sampling": s, "answer_format": "boxed", "grader": "rules", "mode": "cot",
        "selection": {}, "data_source": {"file": "x.jsonl"},
    }


def write_run(db: Path, name: str, model: str, items: list[dict[str, Any]], *, benchmark: str = "math500",
              config: dict[str, Any] | None = None, samples: int = 1) -> str:
    """A finished run whose samples are ``items``: dicts with pid, subject, level, gold, and per sample
    (``responses``: list of (response, correct, finish_reason) or None for a failed call)."""
    cfg = config or base_config(benchmark, len(items), samples=samples)
    cfg["problem_count"] = len(items)
    cfg["model"] = model
    with Store(db) as store:
        run = store.create_run(name=name, benchmark=benchmark, model=model, config=cfg, versions={})
        problems = [Problem(id=it["pid"], problem=it.get("problem", f"Problem {it['pid']}: compute $x$."),
                            answer=it["gold"], solution="", subject=it["subject"], level=it["level"]) for it in items]
        store.add_problems(run.run_id, problems, [[{"role": "user", "content": p.problem}] for p in problems], samples)
        for it in items:
            for k, sample in enumerate(it["responses"]):
                if sample is None:
                    att = Attempt(it["pid"], k, 0, "chat", {}, response=None, error="HTTP 500 (scripted)")
                    store.add_attempt(run.run_id, att)
                    store.mark_sample(run.run_id, it["pid"], k, "failed", att.error)
                    continue
                text, correct, finish = sample
                att = Attempt(it["pid"], k, 0, "chat", {}, response=text, finish_reason=finish, prompt_tokens=50,
                              completion_tokens=len(text) // 4 + 1, latency_s=0.5 + 0.01 * len(text))
                verdict = Verdict(correct=correct, extracted=it["gold"] if correct else "999", normalized=None,
                                  normalized_gold=None, method="string" if correct else "none",
                                  reason=None if correct else "mismatch")
                # Stored as the pipeline stores a sample: the call, the text graded (its response) and the grade.
                store.save_sample(run.run_id, it["pid"], k, [att], graded=[Gradable(text, cfg["answer_format"], 0)],
                                  grades=[GradeRecord.from_verdict("rules", 0, verdict)])
        store.mark_run_ended(run.run_id, "finished", wall_s=1.0)
        return run.run_id


def paired_items(pattern: list[tuple[bool, bool]], subjects: list[str] | None = None) -> tuple[list, list]:
    """Two runs' items from (a_correct, b_correct) per problem."""
    a_items, b_items = [], []
    for i, (a, b) in enumerate(pattern):
        subject = subjects[i] if subjects else "Algebra"
        base = {"pid": f"test/p{i}.json", "subject": subject, "level": 1 + i % 5, "gold": str(i)}
        a_items.append({**base, "responses": [(f"\\boxed{{{i if a else 999}}}", a, "stop")]})
        b_items.append({**base, "responses": [(f"\\boxed{{{i if b else 999}}}", b, "stop")]})
    return a_items, b_items


# -- statistics ---------------------------------------------------------------------------------------------------


def test_mcnemar_exact_matches_hand_computed_binomial_tails() -> None:
    # b=7, c=2: p = 2 * (C(9,0)+C(9,1)+C(9,2)) / 2^9 = 2 * 46 / 512
    assert mcnemar_exact(7, 2) == pytest.approx(92 / 512)
    assert mcnemar_exact(2, 7) == pytest.approx(92 / 512)
    assert mcnemar_exact(5, 0) == pytest.approx(2 / 32)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 3) == 1.0  # capped at 1
    # b=10, c=3: 2 * (1 + 13 + 78 + 286) / 8192
    assert mcnemar_exact(10, 3) == pytest.approx(2 * 378 / 8192)


def test_paired_bootstrap_ci_contains_the_difference_and_is_deterministic() -> None:
    a = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1] * 20
    b = [1, 0, 0, 1, 0, 1, 0, 1, 0, 0] * 20
    diff = (sum(a) - sum(b)) / len(a)
    lo, hi = paired_bootstrap(a, b, resamples=1000, seed=3)
    assert lo < diff < hi
    assert 0 < lo and hi < 0.5
    assert (lo, hi) == paired_bootstrap(a, b, resamples=1000, seed=3)
    # identical runs: the CI collapses to 0
    assert paired_bootstrap(a, a, resamples=200) == (0.0, 0.0)


# -- compare on runs written with the Store API ------------------------------------------------------------------


def test_compare_runs_counts_discordant_pairs_per_subject_and_level(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    # 20 problems: 10 both right, 7 A only, 2 B only, 1 neither
    pattern = [(True, True)] * 10 + [(True, False)] * 7 + [(False, True)] * 2 + [(False, False)]
    subjects = ["Algebra"] * 12 + ["Geometry"] * 8  # the 7 A-only: problems 10-16 -> Algebra 10,11; Geometry 12-16
    a_items, b_items = paired_items(pattern, subjects)
    write_run(db, "A", "model-a", a_items)
    write_run(db, "B", "model-b", b_items)
    with Store(db) as store:
        comp = compare_runs(store, ["A", "B"], resamples=1000, seed=0)
    assert comp.shared_problems == 20 and comp.warnings == []
    ra, rb = comp.runs
    assert (ra.correct, rb.correct) == (17, 12)
    assert ra.accuracy == pytest.approx(0.85) and rb.accuracy == pytest.approx(0.60)
    pair = comp.pairs[0]
    assert (pair.both, pair.a_only, pair.b_only, pair.neither) == (10, 7, 2, 1)
    assert pair.p_value == pytest.approx(92 / 512)
    assert pair.diff == pytest.approx(0.25)
    assert pair.ci95[0] < 0.25 < pair.ci95[1]
    subj = {x.key: x for x in pair.by_subject}
    assert (subj["Algebra"].n, subj["Algebra"].b, subj["Algebra"].c) == (12, 2, 0)
    assert (subj["Geometry"].n, subj["Geometry"].b, subj["Geometry"].c) == (8, 5, 2)
    assert subj["Geometry"].diff == pytest.approx((6 - 3) / 8)
    assert subj["Geometry"].p_value == pytest.approx(mcnemar_exact(5, 2))
    assert sum(x.n for x in pair.by_level) == 20
    assert [x["problem_id"] for x in pair.only_b] == ["test/p17.json", "test/p18.json"]


def test_compare_warns_about_unfair_settings_and_partial_overlap(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    a_items, b_items = paired_items([(True, True), (True, False), (False, False), (True, True)])
    cfg_b = base_config(temperature=0.7, max_tokens=256, extra_body={"repeat_penalty": 1.0})
    cfg_b["prompt_template"] = {"name": "minerva", "system": "", "user": "x {problem}",
                                "answer_format": "final_answer_line"}
    cfg_b["answer_format"] = "final_answer_line"
    cfg_b["solver"] = {"attempts": 3}
    b_items[3]["responses"] = [("Continuing the computation we get", False, "length")]
    write_run(db, "A", "m", a_items)
    write_run(db, "B", "m", b_items[:3] + [b_items[3]] + [
        {"pid": "test/extra.json", "subject": "Algebra", "level": 2, "gold": "1",
         "responses": [("\\boxed{1}", True, "stop")]}
    ], config=cfg_b)
    with Store(db) as store:
        comp = compare_runs(store, ["A", "B"], resamples=200)
    text = "\n".join(comp.warnings)
    assert comp.shared_problems == 4
    assert "B: compared on 4 shared problems of its 5 graded ones" in text
    assert "temperature differs (0.0 vs 0.7)" in text
    assert "max_tokens differs (server default vs 256)" in text
    assert "prompt template differs (cot_boxed vs minerva)" in text
    assert "answer format differs" in text
    assert "truncated responses differ" in text
    assert "solver attempts differs (1 vs 3)" in text
    assert 'extra request fields differ ({} vs {"repeat_penalty": 1.0})' in text


def test_multi_sample_runs_use_problem_means_and_majority_verdicts(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    items_a, items_b = [], []
    # problem 0: A 3/3, B 1/3 -> A solved (majority), B not; problem 1: A 2/3, B 2/3 -> both
    spec = [([True, True, True], [True, False, False]), ([True, True, False], [False, True, True])]
    for i, (ra, rb) in enumerate(spec):
        base = {"pid": f"p{i}", "subject": "Algebra", "level": 3, "gold": "1"}
        items_a.append({**base, "responses": [("\\boxed{1}" if c else "\\boxed{2}", c, "stop") for c in ra]})
        items_b.append({**base, "responses": [("\\boxed{1}" if c else "\\boxed{2}", c, "stop") for c in rb]})
    write_run(db, "A", "m", items_a, samples=3)
    write_run(db, "B", "m", items_b, samples=3)
    with Store(db) as store:
        comp = compare_runs(store, ["A", "B"], resamples=200)
    pair = comp.pairs[0]
    assert pair.acc_a == pytest.approx((1 + 2 / 3) / 2) and pair.acc_b == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert (pair.both, pair.a_only, pair.b_only) == (1, 1, 0) and pair.binary == "majority of samples"
    assert comp.runs[0].n == 6 and comp.runs[0].correct == 5
    side = comp.runs[0]  # k=3: the interval is over the 2 problems (3/3 and 2/3 correct), with their design effect
    assert side.ci_method == ("Wilson score interval over 2 problems (6 samples, design effect 1.00, effective "
                              "sample size 6)")
    # the counts spread around 5/6 no more than 6 independent samples would (deff = 1): the plain Wilson interval
    assert side.ci95 == pytest.approx(wilson_interval(5, 6))


def test_compare_bad_input_gives_one_line_errors(tmp_path: Path, run_cli) -> None:
    db = tmp_path / "e.db"
    a_items, _ = paired_items([(True, True)] * 3)
    write_run(db, "A", "m", a_items)
    write_run(db, "F", "m", [{**a_items[0], "pid": "other"}], benchmark="math")
    with Store(db) as store:  # an empty run: created, never graded
        store.create_run(name="E", benchmark="math500", model="m", config=base_config(), versions={})
    cases = [
        (["A", "nope"], "no run 'nope'"),
        (["A", "E"], "no graded samples"),
        (["A", "A"], "given twice"),
        (["A"], "at least two runs"),
    ]
    for runs, message in cases:
        result = run_cli("compare", *runs, "--store", str(db))
        assert result.code == 2, (runs, result.out, result.err)
        assert result.err.startswith("error: ") and message in result.err and "Traceback" not in result.err
    # Runs on different benchmarks are not paired: they make the benchmark x model table instead.
    result = run_cli("compare", "A", "F", "--store", str(db))
    assert result.code == 0, result.err
    assert "Benchmark x model" in result.out and "Paired differences" not in result.out


# -- end to end through the scripted server ----------------------------------------------------------------------


def test_compare_cli_on_two_scripted_runs(run_cli, small_data: Path, math500_path: Path, tmp_path: Path) -> None:
    db, out = tmp_path / "s.db", tmp_path / "cmp.json"
    with scripted_server("--data", str(math500_path), "--correct-rate", "0.7") as strong, \
            scripted_server("--data", str(math500_path), "--correct-rate", "0.5") as weak:
        for name, srv in (("strong", strong), ("weak", weak)):
            r = run_cli("run", "--model", f"model-{name}", "--base-url", srv.base_url, "--data-file",
                        str(small_data), "--store", str(db), "--quiet", "--run-name", name)
            assert r.code == 0, r.err
    result = run_cli("compare", "strong", "weak", "--store", str(db), "--json", str(out), "--bootstrap", "500")
    assert result.code == 0, result.err
    problems = load_problems("math500", data_file=small_data)
    strong_ok = {p.id for p in problems if scripted_outcome(p.problem, ScriptRates(0.7)) == "correct"}
    weak_ok = {p.id for p in problems if scripted_outcome(p.problem, ScriptRates(0.5)) == "correct"}
    b, c = len(strong_ok - weak_ok), len(weak_ok - strong_ok)
    assert c == 0 and b > 0  # the same hash decides both, so the weaker script solves a subset
    doc = json.loads(out.read_text())
    pair = doc["pairs"][0]
    assert pair["mcnemar"]["a_only"] == b and pair["mcnemar"]["b_only"] == 0
    assert pair["mcnemar"]["p_value"] == pytest.approx(min(1.0, 2 * 0.5**b))
    assert pair["diff"] == pytest.approx(b / 40)
    lo, hi = pair["diff_ci95_bootstrap"]
    assert lo <= b / 40 <= hi
    assert sorted(x["problem_id"] for x in pair["solved_by_a_only"]) == sorted(strong_ok - weak_ok)
    assert doc["runs"][0]["correct"] == len(strong_ok)
    assert f"exact McNemar p = {min(1.0, 2 * 0.5**b):.3g}" in result.out
    assert math.isclose(doc["runs"][1]["accuracy"], len(weak_ok) / 40)

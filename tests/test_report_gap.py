"""Gap analysis: peers' grading policies re-grading stored responses, and the settings that differ from each
published source."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mathgauge.report import analyse_gap
from mathgauge.report.policies import hendrycks_policy, last_boxed, lenient_policy, minerva_policy
from mathgauge.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report_compare import base_config, write_run  # noqa: E402

# (response, gold, stored rules verdict) and what each peer policy says
CASES = [
    ("Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.", "\\frac12", True,
     {"minerva": True, "hendrycks": False, "lenient": True}),
    ("So it is about $\\boxed{0.333}$.", "\\frac{1}{3}", False,
     {"minerva": False, "hendrycks": False, "lenient": True}),
    ("Hence $\\boxed{\\dfrac{1}{2}}$.", "\\frac{1}{2}", True,
     {"minerva": False, "hendrycks": True, "lenient": True}),
    ("The side is $\\boxed{10\\text{ cm}}$.", "10", True,
     {"minerva": False, "hendrycks": True, "lenient": True}),
    ("Adding up, the answer is 7.", "7", True,
     {"minerva": False, "hendrycks": False, "lenient": True}),
    ("We get $\\boxed{x^2+1}$.", "1+x^2", True,
     {"minerva": False, "hendrycks": False, "lenient": False}),
]


def test_peer_policies_on_known_responses() -> None:
    fns = {"minerva": minerva_policy, "hendrycks": hendrycks_policy, "lenient": lenient_policy}
    for response, gold, _, expected in CASES:
        got = {name: fn(response, gold) for name, fn in fns.items()}
        assert got == expected, (response, gold, got)
    assert last_boxed("a \\boxed{\\frac{1}{2}} b \\boxed{3}") == "3"
    assert last_boxed("\\boxed{\\left(1,{2}\\right)}") == "\\left(1,{2}\\right)"
    assert last_boxed("no box") is None
    # thinking traces are never graded
    assert not hendrycks_policy("<think>\\boxed{5}</think> I give up", "5")
    assert lenient_policy("12,000 apples in total, so the answer is 12,000.", "12000")


def _items(model_cases: list) -> list[dict]:
    return [{"pid": f"test/algebra/{i}.json", "subject": "Algebra", "level": 2, "gold": gold,
             "responses": [(resp, ok, "stop")]} for i, (resp, gold, ok, _) in enumerate(model_cases)]


def test_gap_analysis_regrades_and_lists_published_figures(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    write_run(db, "qwen", "Qwen/Qwen2.5-7B-Instruct", _items(CASES))
    with Store(db) as store:
        run = store.get_run("qwen")
        gap = analyse_gap(run, store.sample_results(run.run_id), list(store.export_rows(run.run_id)))
    assert gap.benchmark == "MATH-500" and "6 of the 500" in gap.caveat
    assert {k: (v["correct"], v["n"]) for k, v in gap.policies.items()} == {
        "rules": (5, 6), "minerva": (1, 6), "hendrycks": (2, 6), "lenient": (5, 6)}
    assert gap.accuracy == pytest.approx(500 / 6)
    # MATH-500 figures beside the run; the MATH ones only counted as not comparable
    assert sorted(g.entry.score for g in gap.gaps) == [77.1, 77.6]
    assert gap.other_benchmarks == {"MATH": 2}
    g776 = [g for g in gap.gaps if g.entry.score == 77.6][0]
    assert g776.diff == pytest.approx(500 / 6 - 77.6)
    assert g776.inside_ci is True  # n=6: a wide interval
    doc = gap.to_json()
    assert doc["published"][0]["settings_that_differ"][0] == "benchmark"
    assert gap.grader_effect() == (
        "Grading policy alone moves the score from 16.7 (minerva) to 83.3 (rules), a spread of 66.7 points; gaps "
        "to published figures range from +5.7 to +6.2 points, and 2 of 2 published figure(s) fall within the range "
        "of re-graded scores.")


def test_gap_names_the_settings_that_differ_from_each_source(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    cfg = base_config(temperature=0.0, max_tokens=1024)
    items = [{"pid": f"p{i}", "subject": "Algebra", "level": 1, "gold": "1",
              "responses": [("\\boxed{1}", True, "stop") if i % 4 else ("cut off mid-way", False, "length")]}
             for i in range(8)]
    write_run(db, "r1", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", items, config=cfg)
    with Store(db) as store:
        run = store.get_run("r1")
        gap = analyse_gap(run, store.sample_results(run.run_id), list(store.export_rows(run.run_id)))
    by_score = {g.entry.score: g for g in gap.gaps}
    assert set(by_score) == {92.8, 94.5, 91.8, 94.1, 91.4}
    self_report = {s.setting: s.differs for s in by_score[92.8].settings}
    # DeepSeek's own figure: T=0.6, 64 samples (avg@k), 32768 tokens, thinking; this run: greedy, 1024, no <think>
    assert self_report["temperature"] is True
    assert self_report["samples and metric"] is True
    assert self_report["max tokens / truncation"] is True
    assert self_report["thinking"] is True
    assert self_report["grader"] is None  # the source does not say
    greedy = {s.setting: s.differs for s in by_score[91.8].settings}
    assert greedy["temperature"] is False and greedy["samples and metric"] is False
    assert greedy["grader"] is False  # LightEval / math-verify-like
    assert "2 of 8 responses truncated" in [s.run for s in by_score[91.8].settings if s.setting.startswith("max")][0]
    assert by_score[91.8].closest_policy == "rules"
    assert by_score[91.8].closest_policy_diff == pytest.approx(75.0 - 91.8)


def test_report_prints_the_gap_and_writes_json(run_cli, tmp_path: Path) -> None:
    import json

    db = tmp_path / "r.db"
    write_run(db, "qwen", "Qwen/Qwen2.5-7B-Instruct", _items(CASES))
    out, gap_json = tmp_path / "r.html", tmp_path / "gap.json"
    result = run_cli("report", "qwen", "--store", str(db), "--output", str(out), "--gap-json", str(gap_json))
    assert result.code == 0, result.err
    assert "Score under other grading policies: rules 83.3, minerva 16.7, hendrycks 33.3, lenient 83.3" in result.out
    doc = json.loads(gap_json.read_text())
    assert doc[0]["grading_policies"]["hendrycks"]["correct"] == 2
    assert {p["published"]["score"] for p in doc[0]["published"]} == {77.1, 77.6}


def test_gap_mode_and_judge_grader_comparisons(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    cfg = base_config()
    cfg["mode"], cfg["grader"] = "pot", "judge"
    items = [{"pid": "p0", "subject": "Algebra", "level": 1, "gold": "1", "responses": [("\\boxed{1}", True, "stop")]}]
    write_run(db, "pot", "Qwen/Qwen2.5-Math-7B-Instruct", items, config=cfg)
    with Store(db) as store:
        run = store.get_run("pot")
        gap = analyse_gap(run, store.sample_results(run.run_id), list(store.export_rows(run.run_id)), regrade=False)
    assert gap.policies == {}
    (entry,) = gap.gaps  # the MATH-500 row (82.9, CoT); the MATH rows (CoT and TIR) are not comparable
    settings = {s.setting: s.differs for s in entry.settings}
    assert entry.entry.score == 82.9 and settings["mode (CoT/PoT/TIR)"] is True
    assert gap.other_benchmarks == {"MATH": 2}


def test_gap_compares_the_shots_of_the_run_template(tmp_path: Path) -> None:
    from mathgauge.prompts import load_template

    items = [{"pid": f"p{i}", "subject": "Algebra", "level": 1, "gold": "1", "responses": [("\\boxed{1}", True,
                                                                                             "stop")]}
             for i in range(4)]
    shots = {}
    for name in ("cot_boxed", "minerva_4shot"):
        db = tmp_path / f"{name}.db"
        cfg = base_config("math", 4)
        cfg["prompt_template"] = load_template(name).to_dict()
        write_run(db, name, "Qwen/Qwen3-8B-Base", items, benchmark="math", config=cfg)
        with Store(db) as store:
            run = store.get_run(name)
            gap = analyse_gap(run, store.sample_results(run.run_id), list(store.export_rows(run.run_id)))
        (four_shot,) = [g for g in gap.gaps if g.entry.shots == 4]  # the Qwen3 report: MATH, 4-shot CoT
        (setting,) = [s for s in four_shot.settings if s.setting == "shots"]
        shots[name] = (setting.run, setting.differs)
    assert shots == {"cot_boxed": ("0 (template cot_boxed)", True),
                     "minerva_4shot": ("4 (template minerva_4shot)", False)}


def test_gap_puts_an_aime_run_only_beside_figures_of_its_own_metric(tmp_path: Path) -> None:
    db = tmp_path / "aime.db"
    one = [{"pid": f"aime24/{60 + i}", "subject": "AIME 2024 I", "level": None, "gold": str(i),
            "responses": [(f"\\boxed{{{i}}}", i % 2 == 0, "stop")]} for i in range(30)]
    many = [{**it, "responses": [(f"\\boxed{{{i}}}", (i + k) % 2 == 0, "stop") for k in range(16)]}
            for i, it in enumerate(one)]
    write_run(db, "one", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", one, benchmark="aime24")
    write_run(db, "many", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", many, benchmark="aime24",
              config=base_config("aime24", 30, samples=16, temperature=0.6), samples=16)
    with Store(db) as store:
        gaps = {name: analyse_gap(run, store.sample_results(run.run_id), list(store.export_rows(run.run_id)),
                                  regrade=False)
                for name, run in ((n, store.get_run(n)) for n in ("one", "many"))}
    assert gaps["one"].benchmark == gaps["many"].benchmark == "AIME 2024" and gaps["one"].caveat is None
    # one sample per problem: never beside avg@64, the seed-averaged re-evaluation, or a majority vote
    assert gaps["one"].gaps == []
    assert gaps["one"].other_benchmarks["AIME 2024 pass@1 (avg@64)"] == 1
    assert gaps["one"].other_benchmarks["AIME 2024 cons@64 (maj@64)"] == 1
    assert gaps["one"].other_benchmarks["MATH-500"] == 5
    # sixteen samples: beside the averaged figures, still never the vote
    assert sorted(g.entry.score for g in gaps["many"].gaps) == [52.3, 55.5]
    assert gaps["many"].other_benchmarks["AIME 2024 cons@64 (maj@64)"] == 1

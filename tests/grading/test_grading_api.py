"""Public interface, extraction formats, safety and CLI of mathgauge.grading."""

from __future__ import annotations

import argparse
import builtins
import json
import subprocess
import sys
import threading
import time

import pytest

from mathgauge.grading import (
    ANSWER_FORMATS,
    MAX_ANSWER_CHARS,
    Grader,
    Verdict,
    answers_equivalent,
    extract_final_answer,
    grade,
    last_boxed,
    strip_thinking,
)


# ------------------------------------------------------------------ interface

def test_formats_tuple():
    assert ANSWER_FORMATS == (
        "auto", "boxed", "final_answer_line", "answer_line", "json_answer_field",
        "think_answer_tags", "program_output", "raw",
    )


def test_unknown_format_raises_naming_valid_ones():
    with pytest.raises(ValueError, match="boxed"):
        grade("x", "1", answer_format="nope")
    with pytest.raises(ValueError, match="json_answer_field"):
        extract_final_answer("x", "nope")
    with pytest.raises(ValueError):
        Grader(answer_format="nope")


def test_verdict_fields_and_status():
    v = grade(r"so \boxed{0.5}", r"\frac{1}{2}")
    assert isinstance(v, Verdict)
    assert v.correct and v.status == "correct" and v.reason is None
    assert v.extracted == "0.5" and v.method == "numeric"
    d = v.to_dict()
    assert d["correct"] is True and d["status"] == "correct" and d["normalized_gold"] == r"\frac{1}{2}"
    v = grade("no final answer here, still thinking", "3", answer_format="boxed")
    assert not v.correct and v.reason == "no_answer" and v.status == "no_answer" and v.extracted is None
    v = grade(r"\boxed{4}", "3")
    assert v.status == "incorrect" and v.reason == "mismatch"


def test_shared_helpers():
    # the one \boxed extractor and thinking stripper of the package (datasets, report and judge call them)
    assert last_boxed(r"a \boxed{\frac{1}{2}} b \boxed{3}") == "3"
    assert last_boxed(r"x = \boxed{2} or x = \boxed{3}", join_line=True) == "2, 3"
    assert last_boxed(r"\boxed{\boxed{5}}") == "5" and last_boxed(r"so $\boxed 5$.") == "5"
    assert last_boxed(r"\fbox{\{1, 2\}}") == r"\{1, 2\}" and last_boxed("none") is None
    assert last_boxed(r"\boxed{}") is None and last_boxed(r"\boxed{1") is None
    assert strip_thinking("<think>3</think> 4") == " 4"
    assert strip_thinking("<think>still going") == ""
    assert strip_thinking("<think>still going", keep_unclosed=True) == "<think>still going"
    assert MAX_ANSWER_CHARS == 2000
    from mathgauge.datasets._boxed import last_boxed_content
    from mathgauge.report.policies import last_boxed as regrade_boxed

    assert regrade_boxed is last_boxed and last_boxed_content(r"\boxed{7}") == "7"


def test_import_is_light():
    code = "import sys, mathgauge.grading; print('sympy' in sys.modules, 'antlr4' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_cheap_paths_do_not_import_sympy():
    code = (
        "import sys; from mathgauge.grading import grade\n"
        "assert grade(r'\\boxed{\\frac{3}{6}}', '0.5').correct\n"
        "assert grade(r'\\boxed{2\\sqrt{2}}', r'\\sqrt{8}').correct\n"
        "assert grade(r'\\boxed{(1, 2)}', '(1,2)').correct\n"
        "print('sympy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_grader_context_manager_and_threads():
    with Grader(answer_format="boxed") as g:
        results = []

        def work():
            for _ in range(50):
                results.append(g.grade(r"\boxed{\frac{1}{2}}", "0.5").correct)

        ts = [threading.Thread(target=work) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert len(results) == 200 and all(results)
        assert g.grade("ANSWER: 7", "7", answer_format="answer_line").correct


# ------------------------------------------------------------------ extraction, one format at a time

@pytest.mark.parametrize(
    "response,fmt,expected",
    [
        (r"so the answer is $\boxed{\frac{1}{2}}$.", "boxed", r"\frac{1}{2}"),
        ("\\boxed{1} then\nlater \\boxed{\\sqrt{\\frac{a}{b}}}", "boxed", r"\sqrt{\frac{a}{b}}"),
        (r"hence \fbox{12}", "boxed", "12"),
        (r"thus \boxed 5", "boxed", "5"),
        (r"nested \boxed{\boxed{\frac{1}{2}}}", "boxed", r"\frac{1}{2}"),
        ("x = \\boxed{2} or x = \\boxed{3}", "boxed", "2, 3"),
        ("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", "final_answer_line", r"\frac{3}{4}"),
        ("blah\nThe answer is 42.", "final_answer_line", "42"),
        ("work...\nANSWER: 17", "answer_line", "17"),
        ('{"reasoning": "because", "answer": "\\\\frac{1}{2}"}', "json_answer_field", r"\frac{1}{2}"),
        ('```json\n{"reasoning": "x", "answer": 54}\n```', "json_answer_field", "54"),
        ("<think>maybe 3</think> <answer>5</answer>", "think_answer_tags", "5"),
        ("<think>x</think><answer>The volume is 65 cubic units.</answer>", "think_answer_tags", "65"),
        ("```python\nprint(2+2)\n```\n```output\n4\n```", "program_output", "4"),
        ("  7/8 ", "raw", "7/8"),
    ],
)
def test_extract_formats(response, fmt, expected):
    got = extract_final_answer(response, fmt)
    assert got is not None
    v = answers_equivalent(got, expected)
    assert got == expected or v.correct, (got, expected)


def test_thinking_is_never_graded():
    assert extract_final_answer(r"<think>the answer is \boxed{3}", "auto") is None
    assert extract_final_answer(r"<think>\boxed{3}</think>The answer is \boxed{4}", "boxed") == "4"


def test_auto_order_and_fallbacks():
    # boxed rows without a box fall back to a concluding statement
    assert extract_final_answer("So we get it.\nTherefore, the value of n is 3.", "boxed") == "3"
    # json rows without JSON fall back to a boxed answer
    assert extract_final_answer(r"The final answer is: $\boxed{-3}$", "json_answer_field") == "-3"
    # think rows without tags fall back to the last box
    assert extract_final_answer(r"... so \(\boxed{16}\).", "think_answer_tags") == "16"


def test_truncated_response_has_no_answer():
    v = grade("Let me compute 24 - 12*(-6) = 24 +", "96", answer_format="boxed")
    assert v.reason == "no_answer"


def test_empty_boxes_are_not_answers():
    assert extract_final_answer(r"What is $\log_2 64$? \boxed{} \boxed{}", "boxed") is None


# ------------------------------------------------------------------ safety

def test_no_eval_exec_sympify_on_model_text(monkeypatch):
    import sympy
    import sympy.parsing.sympy_parser as sp_parser

    from mathgauge.grading._sym import sympy_equal  # imported before eval/exec are patched

    assert sympy_equal(r"\sin^2 x + \cos^2 x", "1") == (True, None)  # warm sympy's lazy imports

    core_sympify = sys.modules["sympy.core.sympify"]

    def boom(*a, **k):
        raise AssertionError("eval/exec called during grading")

    real_sympify = core_sympify.sympify

    def guarded_sympify(x, *a, **k):
        if isinstance(x, str):
            raise AssertionError("sympify called on text")
        return real_sympify(x, *a, **k)

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    monkeypatch.setattr(sympy, "sympify", guarded_sympify)
    monkeypatch.setattr(core_sympify, "sympify", guarded_sympify)
    monkeypatch.setattr(sympy, "parse_expr", boom, raising=False)
    monkeypatch.setattr(sp_parser, "parse_expr", boom)
    with Grader(workers=0) as g:
        for resp, gold in [
            (r"\boxed{__import__('os').system('echo hi')}", "1"),
            (r"\boxed{\frac{\cos x}{\sin x}}", r"\cot x"),
            (r"\boxed{x^2+2x+1}", "(x+1)^2"),
            (r"\boxed{(1, 2]}", "(1,2]"),
        ]:
            g.grade(resp, gold)
    # the sympy path builds expressions from the parse tree
    assert sympy_equal(r"\sin^2 x + \cos^2 x", "1") == (True, None)


@pytest.mark.parametrize(
    "answer,reasons",
    [
        (r"2^{2^{2^{49}}}", {"too_large", "timeout"}),
        ("9" * 10_000, {"too_large"}),
        ("(" * 5_000 + "1" + ")" * 5_000, {"too_large", "parse_error"}),
        ("\\frac{" * 3000, {"too_large", "parse_error"}),
        ("10!" + "!" * 50, {"too_large", "parse_error", "mismatch"}),
    ],
    ids=["tower", "10k_digits", "deep_parens", "deep_frac", "factorials"],
)
def test_huge_inputs_are_bounded(answer, reasons):
    t = time.monotonic()
    v = grade("\\boxed{" + answer + "}", "4", timeout_s=1.0)
    assert time.monotonic() - t < 1.5
    assert not v.correct and v.reason in reasons


@pytest.mark.parametrize("piece", ["9", " ", "$", "**", "is ", "1,", "\\[", "```", "answer>", "<answer>",
                                   "Therefore ", "\\boxed{", "$$", "\"answer\": ", "the answer is ", "\n\n"])
def test_repetitive_response_is_bounded(piece):
    text = piece * (60_000 // len(piece))
    for fmt in ("auto", "boxed", "think_answer_tags", "json_answer_field"):
        t = time.monotonic()
        extract_final_answer(text + " 5.", fmt)
        assert time.monotonic() - t < 0.5, (piece, fmt)


def test_garbage_response_is_bounded():
    import random

    rng = random.Random(0)
    garbage = "".join(rng.choice("{}\\boxed^_()[]0123456789abcxyz+-*/ $") for _ in range(50_000))
    for fmt in ANSWER_FORMATS:
        t = time.monotonic()
        v = grade(garbage, "4", answer_format=fmt, timeout_s=1.0)
        assert time.monotonic() - t < 1.5, fmt
        assert not v.correct


def test_symbolic_worker_timeout_is_hard():
    with Grader(timeout_s=0.5) as g:
        from mathgauge.grading._compare import Outcome

        t = time.monotonic()
        out = g._symbolic("x", "x", 0.0)  # zero budget: must not hang
        assert isinstance(out, Outcome)
        assert time.monotonic() - t < 60


# ------------------------------------------------------------------ CLI

def _parser():
    from mathgauge.grading._cli import add_grading_commands

    ap = argparse.ArgumentParser(prog="mathgauge")
    sub = ap.add_subparsers(dest="command", required=True)
    add_grading_commands(sub)
    return ap


def test_cli_grade(capsys):
    args = _parser().parse_args(["grade", "--gold", r"\frac{1}{2}", "--response", r"... \boxed{0.5}"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["correct"] is True and out["extracted"] == "0.5"


def test_cli_grade_gold_solution_and_raw(capsys):
    ap = _parser()
    args = ap.parse_args(["grade", "--gold", r"so $x = \boxed{\frac{1}{2}}$.", "--response", "$0.5$", "--format", "raw"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["correct"] is True and out["extracted"] == "0.5" and out["normalized_gold"] == r"\frac{1}{2}"


def test_cli_grade_file(tmp_path, capsys):
    inp = tmp_path / "in.jsonl"
    lines = [
        {"id": "a", "response": r"\boxed{3}", "gold_answer": "3", "label": True},
        {"id": "b", "response": r"\boxed{4}", "gold_answer": "3", "label": True},
        {"id": "c", "response": '{"answer": "5"}', "gold_answer": "5", "answer_format": "json_answer_field"},
    ]
    inp.write_text("\n".join(json.dumps(x) for x in lines[:2]) + "\n{not json\n" + json.dumps(lines[2]) + "\n")
    out = tmp_path / "out.jsonl"
    args = _parser().parse_args(["grade-file", "--input", str(inp), "--output", str(out)])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert ":3:" in captured.err and "malformed" in captured.err
    assert "agreement overall: 50.00%" in captured.out and "b" in captured.out.split("disagreements")[1]
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert [r["correct"] for r in rows] == [True, False, True]
    assert all({"extracted", "method", "reason"} <= set(r) for r in rows)


def test_cli_missing_file(tmp_path, capsys):
    args = _parser().parse_args(["grade-file", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o")])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err


def test_timeout_reason_within_cap():
    many = ", ".join(f"\\sqrt{{{k}}}" for k in range(2, 70))
    gold = ", ".join(f"\\sqrt{{{k}}}+1" for k in range(2, 70))
    t = time.monotonic()
    v = answers_equivalent(many, gold, timeout_s=0.01)
    assert time.monotonic() - t < 0.5
    assert not v.correct and v.reason == "timeout"
    assert answers_equivalent(many, many.replace(" ", ""), timeout_s=5.0).correct

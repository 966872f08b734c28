"""Prompt templates: zero-shot and few-shot templates as data, what they render, and how they are recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from mathgauge.errors import ConfigError
from mathgauge.grading import extract_final_answer
from mathgauge.prompts import load_template


def test_the_minerva_template_sends_four_solved_examples_as_earlier_turns() -> None:
    template = load_template("minerva_4shot")
    messages = template.render("What is $1+1$?")
    assert template.shots == 4 and template.answer_format == "final_answer_line"
    assert [m["role"] for m in messages] == ["user", "assistant"] * 4 + ["user"]
    assert messages[-1]["content"] == "Problem:\nWhat is $1+1$?"
    assert messages[0]["content"].startswith("Problem:\nFind the domain of the expression")
    # Each shot shows the answer line the template asks the grader to read, and it reads the shot's answer.
    answers = [extract_final_answer(m["content"], "final_answer_line") for m in messages if m["role"] == "assistant"]
    assert answers == ["[2,5)", "24", "16", "-\\frac{2}{3}"]


def test_examples_are_recorded_and_change_the_fingerprint() -> None:
    zero, four = load_template("cot_boxed"), load_template("minerva_4shot")
    assert set(zero.to_dict()) == {"name", "system", "user", "answer_format"}  # as stored before shots existed
    stored = four.to_dict()
    assert stored["shots"] == 4 and len(stored["examples"]) == 4 and stored["examples"][1]["solution"].endswith(
        "I hope it is correct.")
    assert zero.fingerprint != four.fingerprint


def test_a_few_shot_template_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "two_shot.toml"
    path.write_text('user = "Q: {problem}"\n\n[[examples]]\nproblem = "1+1?"\nsolution = "\\\\boxed{2}"\n\n'
                    '[[examples]]\nproblem = "2+2?"\nsolution = "\\\\boxed{4}"\n')
    template = load_template(path)
    assert template.shots == 2 and template.name == "two_shot"
    assert template.render("3+3?") == [
        {"role": "user", "content": "Q: 1+1?"}, {"role": "assistant", "content": "\\boxed{2}"},
        {"role": "user", "content": "Q: 2+2?"}, {"role": "assistant", "content": "\\boxed{4}"},
        {"role": "user", "content": "Q: 3+3?"},
    ]


@pytest.mark.parametrize(("body", "message"), [
    ('examples = "none"\n', "'examples' must be an array of tables"),
    ('[[examples]]\nproblem = "1+1?"\n', "example 1 needs 'problem' and 'solution' strings"),
    ('[[examples]]\nproblem = "1+1?"\nsolution = "2"\n[[examples]]\nproblem = ""\nsolution = "2"\n',
     "example 2 needs"),
])
def test_malformed_examples_are_named(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('user = "{problem}"\n' + body)
    with pytest.raises(ConfigError, match=f"{path.name}: {message}"):
        load_template(path)

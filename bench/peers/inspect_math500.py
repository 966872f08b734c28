"""MATH-500 from a local JSONL as an inspect_ai task, for timing inspect against the scripted server.

    inspect eval bench/peers/inspect_math500.py -T data_file=../shared/data/math500.jsonl \
        --model openai-api/scripted/bench --max-connections 64
"""

from __future__ import annotations

import sys
from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import FieldSpec, json_dataset
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer, stderr
from inspect_ai.solver import TaskState, generate, prompt_template

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _answer import is_correct, last_boxed

PROMPT = "{prompt}\n\nPlease reason step by step, and put your final answer within \\boxed{{}}."
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "math500.jsonl"


@scorer(metrics=[accuracy(), stderr()])
def boxed_answer():
    async def score(state: TaskState, target: Target) -> Score:
        text = state.output.completion
        ok = is_correct(text, target.text)
        return Score(value=CORRECT if ok else INCORRECT, answer=last_boxed(text or "") or "")

    return score


@task
def math500(data_file: str = str(DEFAULT_DATA)) -> Task:
    dataset = json_dataset(data_file, FieldSpec(input="problem", target="answer", id="unique_id"))
    return Task(dataset=dataset, solver=[prompt_template(PROMPT), generate()], scorer=boxed_answer())

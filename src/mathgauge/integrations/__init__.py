"""Ecosystem integrations: re-scoring other harnesses' outputs, and the lm-evaluation-harness task.

* `rescore` imports a results/sample file of lm-eval, lighteval, OpenCompass, the Qwen2.5-Math toolkit or plain
  JSONL as a mathgauge run and grades it with mathgauge's grader (``mathgauge rescore FILE --from FORMAT``).
* `lm_eval_path` is the folder to pass to ``lm_eval --include_path`` for the ``mathgauge_math500`` /
  ``mathgauge_math`` tasks (``mathgauge lm-eval-path`` prints it).
"""

from __future__ import annotations

from pathlib import Path

from .rescore import FORMATS, Flip, RescoreResult, rescore


def lm_eval_path() -> Path:
    """The folder holding mathgauge's lm-evaluation-harness task YAML files."""
    return Path(__file__).resolve().parent / "lm_eval"


__all__ = ["FORMATS", "Flip", "RescoreResult", "lm_eval_path", "rescore"]

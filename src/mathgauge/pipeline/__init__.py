"""The evaluation pipeline: plan problems -> solve -> grade -> store -> summarise.

* `RunSpec` (also `mathgauge.EvalConfig`): everything a run is asked to do, typed and versioned; the
  ``mathgauge run`` options are derived from it, it is stored with the run and rebuilt on resume.
* `evaluate` / `aevaluate` / `resume`: run a spec, or continue a stored run (`EvalResult`). One process works on a
  run at a time (its lease in the store); Ctrl-C, SIGTERM, an endpoint that stops answering or a store that cannot
  be written stop it at once (`mathgauge.errors.RunInterrupted`, `RunStopped`), the samples in flight left pending.
* `evaluate_suite` / `resume_suite`: a spec naming several benchmarks (or a suite): one stored run per benchmark,
  one after another, continued as a whole; a result per benchmark and the benchmark x model table (`SuiteResult`).
* `GradingStage`: the one way samples are graded (rules -> judge or cascade -> final), by runs, by `regrade_run`
  and by ``mathgauge rescore``; it reads the text the solver said is to be graded (`mathgauge.solve.Gradable`).
* `regrade_run`: grade a stored run again on the texts it was graded on; `ablate`: a run with and without a factor.

Imports are lazy so that the command line starts without loading the pipeline.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "RunSpec": "._spec",
    "EvalConfig": "._spec",
    "SPEC_VERSION": "._spec",
    "config_differences": "._spec",
    "preset_values": "._spec",
    "RunPlan": "._plan",
    "plan_run": "._plan",
    "EvalResult": "._run",
    "ProgressCallback": "._run",
    "evaluate": "._run",
    "aevaluate": "._run",
    "resume": "._run",
    "SuiteProgress": "._suite",
    "SuiteResult": "._suite",
    "evaluate_suite": "._suite",
    "resume_suite": "._suite",
    "PER_BENCHMARK_SETTINGS": "._spec",
    "GradeRecord": "._grade",
    "GradeTask": "._grade",
    "GradingStage": "._grade",
    "SampleGrades": "._grade",
    "scored_grader": "._spec",
    "RegradeResult": "._regrade",
    "VerdictChange": "._regrade",
    "regrade_run": "._regrade",
    "AblationResult": "._ablate",
    "FACTORS": "._ablate",
    "ablate": "._ablate",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name], __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'mathgauge.pipeline' has no attribute {name!r}")

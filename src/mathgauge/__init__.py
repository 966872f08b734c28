"""mathgauge: measure how well language models solve competition mathematics.

The Python API mirrors the CLI::

    import mathgauge
    result = mathgauge.evaluate(mathgauge.RunSpec(model="gpt-4o-mini", benchmark="math500"))
    print(result.summary.accuracy)

`RunSpec` holds every setting of a run (the ``mathgauge run`` options are derived from it); `EvalConfig` is the
same class under its earlier name. Several benchmarks, one stored run each, and their benchmark x model table::

    suite = mathgauge.evaluate_suite(mathgauge.RunSpec(model="m", benchmark="aime24,math500",
                                                       per_benchmark={"aime24": {"samples": 16}}))
    print(suite.results["aime24"].summary.accuracy, suite.exit_code)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "RunSpec": ".pipeline",
    "EvalConfig": ".pipeline",
    "EvalResult": ".pipeline",
    "evaluate": ".pipeline",
    "aevaluate": ".pipeline",
    "resume": ".pipeline",
    "SuiteResult": ".pipeline",
    "evaluate_suite": ".pipeline",
    "resume_suite": ".pipeline",
    "SamplingConfig": ".solve",
}

__all__ = ["EvalConfig", "EvalResult", "RunSpec", "SamplingConfig", "SuiteResult", "__version__", "aevaluate",
           "evaluate", "evaluate_suite", "resume", "resume_suite"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import mathgauge` stays cheap for the CLI's start-up time.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'mathgauge' has no attribute {name!r}")

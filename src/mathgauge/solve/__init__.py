"""Solvers: turn a problem's prompt into model calls (and sandboxed code runs), recorded as `Attempt`s, and say
what is to be graded (`Gradable`).

Imports are lazy: the records (`Attempt`, `Gradable`, `SamplingConfig`) load without the solvers, which load the
model backends (asyncio and the HTTP client), so reading a stored run's settings stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

MODES = ("cot", "pot", "tir", "verify")

_LAZY = {
    "HasAnswer": "._base",
    "OnCall": "._base",
    "Solver": "._base",
    "TryResult": "._base",
    "code_blocks": "._code",
    "last_code_block": "._code",
    "ChainOfThoughtSolver": "._cot",
    "ProgramOfThoughtSolver": "._programs",
    "ToolIntegratedSolver": "._programs",
    "Attempt": "._records",
    "Gradable": "._records",
    "SolveOutcome": "._records",
    "SamplingConfig": "._sampling",
    "SelfVerifyingSolver": "._verify",
    "verification_passed": "._verify",
}

__all__ = ["MODES", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # the names above, for type checkers (``X as X``: re-exported)
    from ._base import (
        HasAnswer as HasAnswer,
        OnCall as OnCall,
        Solver as Solver,
        TryResult as TryResult,
    )
    from ._code import (
        code_blocks as code_blocks,
        last_code_block as last_code_block,
    )
    from ._cot import ChainOfThoughtSolver as ChainOfThoughtSolver
    from ._programs import (
        ProgramOfThoughtSolver as ProgramOfThoughtSolver,
        ToolIntegratedSolver as ToolIntegratedSolver,
    )
    from ._records import (
        Attempt as Attempt,
        Gradable as Gradable,
        SolveOutcome as SolveOutcome,
    )
    from ._sampling import SamplingConfig as SamplingConfig
    from ._verify import (
        SelfVerifyingSolver as SelfVerifyingSolver,
        verification_passed as verification_passed,
    )

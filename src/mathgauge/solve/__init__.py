"""Solvers: turn a problem's prompt into model calls (and sandboxed code runs), recorded as `Attempt`s, and say
what is to be graded (`Gradable`)."""

from ._base import HasAnswer, OnCall, Solver, TryResult
from ._code import code_blocks, last_code_block
from ._cot import ChainOfThoughtSolver
from ._programs import ProgramOfThoughtSolver, ToolIntegratedSolver
from ._records import Attempt, Gradable, SolveOutcome
from ._sampling import SamplingConfig
from ._verify import SelfVerifyingSolver, verification_passed

MODES = ("cot", "pot", "tir", "verify")

__all__ = [
    "MODES",
    "Attempt",
    "ChainOfThoughtSolver",
    "Gradable",
    "HasAnswer",
    "ProgramOfThoughtSolver",
    "OnCall",
    "SamplingConfig",
    "SelfVerifyingSolver",
    "SolveOutcome",
    "Solver",
    "ToolIntegratedSolver",
    "TryResult",
    "code_blocks",
    "last_code_block",
    "verification_passed",
]

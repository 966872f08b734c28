"""Solvers: turn a problem's prompt into model calls, recorded as `Attempt`s."""

from ._cot import ChainOfThoughtSolver
from ._records import Attempt
from ._sampling import SamplingConfig

__all__ = ["Attempt", "ChainOfThoughtSolver", "SamplingConfig"]

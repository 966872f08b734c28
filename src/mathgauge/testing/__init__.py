"""Testing aids: a scripted OpenAI-compatible server and the script it follows."""

from ._process import RunningServer, scripted_server
from ._script import WRONG_ANSWER, ScriptRates, scripted_outcome, scripted_response

__all__ = ["WRONG_ANSWER", "RunningServer", "ScriptRates", "scripted_outcome", "scripted_response", "scripted_server"]

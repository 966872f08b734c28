"""Testing aids: a scripted OpenAI-compatible server and the script it follows, and a tiny random Llama (with a
GGUF writer for it) that exercises the real model backends without any download."""

from ._gguf import write_llama_gguf
from ._process import RunningServer, scripted_server
from ._script import WRONG_ANSWER, ScriptRates, scripted_outcome, scripted_response
from ._tiny_llama import TINY_CHAT_TEMPLATE, build_tiny_llama

__all__ = [
    "TINY_CHAT_TEMPLATE", "WRONG_ANSWER", "RunningServer", "ScriptRates", "build_tiny_llama", "scripted_outcome",
    "scripted_response", "scripted_server", "write_llama_gguf",
]

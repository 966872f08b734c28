"""Create a backend by kind: ``openai`` (any OpenAI-compatible endpoint) or in-process ``hf`` / ``vllm`` /
``llamacpp``."""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ConfigError
from ._protocol import ModelBackend

#: kind -> "module:class" (relative to this package); imported only when chosen, so torch is never loaded
#: for API runs.
BACKENDS: dict[str, str] = {
    "openai": "._openai:OpenAICompatibleBackend",
    "hf": "._hf:HFBackend",
    "vllm": "._vllm:VLLMBackend",
    "llamacpp": "._llamacpp:LlamaCppBackend",
}


def create_backend(kind: str, model: str, **options: Any) -> ModelBackend:
    """Build the backend ``kind`` for ``model``.

    Args:
        kind: a key of `BACKENDS`.
        model: model name (endpoint model name, or a local path / hub id for in-process backends).
        options: constructor keywords of that backend (``base_url``, ``concurrency``, ``dtype``, ...).

    Raises:
        ConfigError: unknown kind, a backend whose packages are not installed, or an option it does not take.
    """
    if kind not in BACKENDS:
        raise ConfigError(f"unknown backend {kind!r}; expected one of {', '.join(BACKENDS)}")
    module_name, _, class_name = BACKENDS[kind].partition(":")
    try:
        module = importlib.import_module(module_name, __package__)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("mathgauge"):
            raise ConfigError(f"backend {kind!r} is not available in this version of mathgauge") from None
        raise ConfigError(
            f"backend {kind!r} needs the package {exc.name!r}; install it (pip install 'mathgauge[{kind}]')"
        ) from None
    cls = getattr(module, class_name)
    try:
        return cls(model, **options)
    except TypeError as exc:
        raise ConfigError(f"backend {kind!r}: {exc}") from None

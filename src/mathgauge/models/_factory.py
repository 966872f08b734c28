"""Create a backend by kind: ``openai`` (any OpenAI-compatible endpoint, one or several replicas) or in-process
``hf`` / ``vllm`` / ``llamacpp``. The model under test and the judge are both made here."""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, EndpointError
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


def open_backend(kind: str, model: str, *, base_urls: Sequence[str], api_key_env: str, concurrency: int,
                 max_retries: int, request_timeout_s: float, options: dict[str, Any] | None = None) -> ModelBackend:
    """The backend a run (or its judge) talks to.

    ``openai`` with one URL is one client; with several URLs, replicas of one model behind a `ReplicatedBackend`
    (each client gives up quickly on a dead endpoint so the request moves to another one). In-process kinds take
    ``options`` as constructor keywords.

    Args:
        kind: a key of `BACKENDS`.
        model: model name at the endpoint (or a local path / hub id).
        base_urls: the endpoint URLs (``openai`` only).
        api_key_env: environment variable holding the key (the key itself is never stored).
        concurrency: most requests in flight per endpoint.
        max_retries: retries per request for timeouts, connection errors and 5xx.
        request_timeout_s: limit for one HTTP exchange.
        options: constructor keywords of an in-process backend.

    Raises:
        EndpointError: OpenAI's own endpoint without a key.
        ConfigError: as `create_backend`.
    """
    if kind != "openai":
        return create_backend(kind, model, **(options or {}))
    from ._openai import OpenAICompatibleBackend
    from ._replicas import ReplicatedBackend

    urls = list(base_urls)
    api_key = os.environ.get(api_key_env) or None
    if api_key is None and any("api.openai.com" in u for u in urls):
        raise EndpointError(
            f"no API key: set {api_key_env} (or name another variable with --api-key-env) "
            f"to call {urls[0]}, or point --base-url at a local server"
        )
    if len(urls) == 1:
        return OpenAICompatibleBackend(model, base_url=urls[0], api_key=api_key, concurrency=concurrency,
                                       max_retries=max_retries, request_timeout_s=request_timeout_s,
                                       api_key_env=api_key_env)
    return ReplicatedBackend([
        (url, OpenAICompatibleBackend(model, base_url=url, api_key=api_key, concurrency=concurrency,
                                      max_retries=1, request_timeout_s=request_timeout_s, backoff_base_s=0.2,
                                      api_key_env=api_key_env))
        for url in urls
    ])

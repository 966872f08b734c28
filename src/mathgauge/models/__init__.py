"""Model backends behind one async protocol, with adaptive concurrency, retries, a response cache, replicas and
token-by-token regeneration (each a backend wrapping another)."""

from ._bundled import BUNDLED_MODELS, resolve_bundled
from ._cache import CachedBackend, ResponseCache, cache_key
from ._factory import BACKENDS, create_backend, open_backend
from ._limiter import AdaptiveLimiter
from ._openai import DEFAULT_BASE_URL, OpenAICompatibleBackend
from ._protocol import (
    ChatRequest,
    ChatResponse,
    DeltaCallback,
    FatalEndpointError,
    ModelBackend,
    ModelCallError,
    restart_stream,
)
from ._regeneration import RegeneratingBackend, RegenerationPolicy
from ._replicas import ReplicatedBackend

__all__ = [
    "BACKENDS",
    "BUNDLED_MODELS",
    "create_backend",
    "open_backend",
    "DEFAULT_BASE_URL",
    "AdaptiveLimiter",
    "CachedBackend",
    "ChatRequest",
    "ChatResponse",
    "DeltaCallback",
    "FatalEndpointError",
    "ModelBackend",
    "ModelCallError",
    "OpenAICompatibleBackend",
    "RegeneratingBackend",
    "RegenerationPolicy",
    "ReplicatedBackend",
    "ResponseCache",
    "cache_key",
    "resolve_bundled",
    "restart_stream",
]

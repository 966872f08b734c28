"""Model backends behind one async protocol, with adaptive concurrency, retries, a response cache, replicas and
token-by-token regeneration (each a backend wrapping another). `EndpointHealth` watches an endpoint as a whole (a
circuit breaker over consecutive tries without a usable reply, a run-wide give-up on rate-limit storms) and raises
`EndpointDown`; empty replies are faults, never answers."""

from ._bundled import BUNDLED_MODELS, resolve_bundled
from ._cache import CachedBackend, ResponseCache, cache_key
from ._factory import BACKENDS, create_backend, open_backend
from ._health import EndpointHealth
from ._limiter import AdaptiveLimiter
from ._openai import DEFAULT_BASE_URL, OpenAICompatibleBackend
from ._protocol import (
    ChatRequest,
    ChatResponse,
    DeltaCallback,
    EndpointDown,
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
    "EndpointDown",
    "EndpointHealth",
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

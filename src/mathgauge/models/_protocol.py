"""The backend protocol every model implementation follows, and the records it exchanges."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import EndpointError

#: Called with each streamed text delta; returning ``False`` stops the generation early. A callback object that
#: also has a ``restart()`` method can be told that the text so far is void: a backend that retries a stream after
#: part of it was delivered (a dropped connection, a server that cut the stream off) calls it before streaming
#: again, and without it gives up instead of delivering the text twice (see :func:`restart_stream`).
DeltaCallback = Callable[[str], "bool | None"]


def restart_stream(on_delta: DeltaCallback) -> bool:
    """Tell ``on_delta`` that the deltas it received are void because the call starts over.

    Returns:
        ``False`` when the callback cannot start over (it has no ``restart`` method), so the caller must not retry.
    """
    restart = getattr(on_delta, "restart", None)
    if not callable(restart):
        return False
    restart()
    return True


class _DeliveryTracker:
    """Passes deltas on and remembers whether any was delivered, so that a retry knows to restart the consumer."""

    def __init__(self, on_delta: DeltaCallback) -> None:
        self.on_delta = on_delta
        self.delivered = False
        if callable(getattr(on_delta, "restart", None)):
            self.restart = self._restart  # restartable exactly when the consumer is (trackers nest)

    def __call__(self, delta: str) -> bool | None:
        self.delivered = True
        return self.on_delta(delta)

    def _restart(self) -> None:
        self.start_over()

    def start_over(self) -> bool:
        """Before a retry: restart the consumer if it was sent text; ``False`` when it was and cannot restart."""
        if not self.delivered:
            return True
        if not restart_stream(self.on_delta):
            return False
        self.delivered = False
        return True


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completion request.

    Args:
        messages: OpenAI-style chat messages.
        temperature, top_p, max_tokens, seed, stop: sampling settings; ``None`` leaves the server's default
            (``max_tokens=None`` lets the server use the model's whole remaining context, so nothing is cut short).
        sample_index: which of the n samples of a problem this is; not sent, but part of the cache key so that
            sampled repeats are not answered from the cache with the same text.
        try_index: which try at the sample this is; like ``sample_index``, only part of the cache key.
        extra_body: extra JSON fields passed through to the server (e.g. ``{"top_k": 20}`` for vLLM).
    """

    messages: list[dict[str, str]]
    temperature: float | None = 0.0
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: list[str] | None = None
    sample_index: int = 0
    extra_body: dict[str, Any] = field(default_factory=dict)
    try_index: int = 0


@dataclass
class ChatResponse:
    """What one model call produced.

    Args:
        text: the assistant message content ("" when the model returned none).
        finish_reason: ``stop``, ``length`` (cut by max_tokens), ``stopped_by_client`` (a stream callback stopped it).
        prompt_tokens, completion_tokens: from the server's ``usage`` (``None`` when it reports none).
        latency_s: seconds of the successful HTTP exchange.
        total_s: seconds including retries and back-off waits.
        retries: how many failed tries preceded the successful one.
        reasoning: a separate reasoning trace when the server returns one (``reasoning_content``).
        cached: answered from the response cache.
        extra: details a wrapping backend adds (e.g. regeneration: cuts, regenerations, characters discarded);
            plain JSON so that it is stored and cached with the response.
    """

    text: str
    finish_reason: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    total_s: float = 0.0
    retries: int = 0
    reasoning: str | None = None
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def chat_request_body(model: str, request: ChatRequest, **fixed: Any) -> dict[str, Any]:
    """The OpenAI-style body of ``request``: model, messages, the sampling settings that are set, extra fields.

    Args:
        model: model name.
        request: the request.
        fixed: backend facts that decide the answer too (e.g. ``dtype`` of an in-process model).
    """
    body: dict[str, Any] = {"model": model, "messages": request.messages, **fixed}
    for name in ("temperature", "top_p", "max_tokens", "seed", "stop"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    body.update(request.extra_body)
    return body


class ModelCallError(Exception):
    """A call that failed for good (retries exhausted, or a request the server will never accept).

    Args:
        reason: one line naming the failure (``HTTP 400: context length exceeded``, ``timeout after 3 retries``).
        status: the last HTTP status, if any.
        retries: how many tries were made before giving up.
    """

    def __init__(self, reason: str, *, status: int | None = None, retries: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retries = retries


class FatalEndpointError(EndpointError):
    """The endpoint cannot serve this run at all (bad key, unknown model, unreachable): stop everything."""


class EndpointDown(FatalEndpointError):
    """The endpoint stopped answering as a whole (the circuit breaker tripped, or a rate-limit storm did not end):
    retrying each request on its own would only spend time. Several replicas route around one that is down.

    Args:
        reason: what was seen (``8 tries in a row got no API reply; the last: connection refused``).
        endpoint: its base URL.
        kind: ``not_answering`` (connection failures, replies that are not the API) or ``rate_limited``.
        answered: whether the endpoint answered any request before.
    """

    def __init__(self, reason: str, *, endpoint: str, kind: str, answered: bool) -> None:
        super().__init__(f"{endpoint}: {reason}")
        self.reason = reason
        self.endpoint = endpoint
        self.kind = kind
        self.answered = answered


@runtime_checkable
class ModelBackend(Protocol):
    """An async chat model."""

    @property
    def model(self) -> str: ...

    def cache_identity(self) -> dict[str, Any]:
        """What, besides the request, decides the answer (model name, endpoint): part of the cache key."""
        ...

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The exact payload the backend would send for ``request`` (stored with every attempt)."""
        ...

    async def check(self) -> list[str]:
        """Fail fast with `FatalEndpointError` when the endpoint is unusable; return warnings."""
        ...

    async def complete(self, request: ChatRequest, on_delta: DeltaCallback | None = None) -> ChatResponse:
        """Generate one response; with ``on_delta`` the response is streamed through it."""
        ...

    async def aclose(self) -> None: ...

"""A response cache in front of any backend, so reruns and resumed runs never pay twice for one request."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Protocol

from ._protocol import ChatRequest, ChatResponse, DeltaCallback, ModelBackend


class ResponseCache(Protocol):
    """Where cached responses live (the SQLite store implements it)."""

    def get_response(self, key: str) -> dict[str, Any] | None: ...

    def put_response(self, key: str, value: dict[str, Any]) -> None: ...


def cache_key(backend: ModelBackend, request: ChatRequest) -> str:
    """SHA-256 of (backend identity, the exact request body, the sample index)."""
    doc = {
        "identity": backend.cache_identity(),
        "body": backend.request_body(request),
        "sample_index": request.sample_index,
    }
    if request.try_index:  # absent for first tries, so caches written before tries existed still match
        doc["try_index"] = request.try_index
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class CachedBackend:
    """Wraps a backend: answers repeated requests from ``cache``, stores successful new ones.

    Responses stopped by a stream callback are not cached: they are not what the request would produce. Nor are
    empty replies (no text, not cut by ``max_tokens``): a fault of the endpoint, never an answer to replay; ones
    cached by an earlier mathgauge are asked again.

    Args:
        backend: the backend to call on a miss.
        cache: where responses are kept.
        executor: run cache reads and writes there (e.g. the store's single writer thread) instead of on the
            event loop.
        lookup: read the cache with this instead, on the event loop: a connection of its own (a second `Store`
            on the same file), so that a request is not held up behind the writes queued on ``executor``; one
            primary-key read costs less than the hop to another thread.
    """

    def __init__(self, backend: ModelBackend, cache: ResponseCache, executor: Executor | None = None, *,
                 lookup: Callable[[str], dict[str, Any] | None] | None = None) -> None:
        self.inner = backend
        self.cache = cache
        self.executor = executor
        self.lookup = lookup
        self.hits = 0

    async def _call(self, fn: Any, *args: Any) -> Any:
        if self.executor is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    @property
    def model(self) -> str:
        return self.inner.model

    def cache_identity(self) -> dict[str, Any]:
        return self.inner.cache_identity()

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        return self.inner.request_body(request)

    async def check(self) -> list[str]:
        return await self.inner.check()

    async def complete(self, request: ChatRequest, on_delta: DeltaCallback | None = None) -> ChatResponse:
        key = cache_key(self.inner, request)
        hit = self.lookup(key) if self.lookup is not None else await self._call(self.cache.get_response, key)
        if hit is not None and _replayable(hit.get("text"), hit.get("finish_reason")):
            self.hits += 1
            response = ChatResponse(**{**hit, "cached": True, "latency_s": 0.0, "total_s": 0.0, "retries": 0})
            if on_delta is not None:
                on_delta(response.text)
            return response
        response = await self.inner.complete(request, on_delta)
        if response.finish_reason != "stopped_by_client" and _replayable(response.text, response.finish_reason):
            await self._call(self.cache.put_response, key, response.to_dict())
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _replayable(text: str | None, finish_reason: str | None) -> bool:
    """Whether a response may be answered from the cache: not an empty reply (see the class)."""
    return bool(text and not text.isspace()) or finish_reason == "length"

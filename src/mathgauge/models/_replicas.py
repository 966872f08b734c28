"""Several endpoints serving one model: requests go to the least busy healthy replica, and a failing replica is
routed around until it recovers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from ._protocol import (
    ChatRequest,
    ChatResponse,
    DeltaCallback,
    EndpointDown,
    FatalEndpointError,
    ModelBackend,
    ModelCallError,
    _DeliveryTracker,
)


class _Replica:
    def __init__(self, backend: ModelBackend, name: str) -> None:
        self.backend = backend
        self.name = name
        self.in_flight = 0
        self.down_until = 0.0
        self.failures = 0
        self.served = 0

    @property
    def healthy(self) -> bool:
        return time.monotonic() >= self.down_until


class ReplicatedBackend:
    """Load-balances one model over several backends (e.g. vLLM replicas behind different URLs).

    Each request goes to the healthy replica with the fewest requests in flight. A replica whose call fails for
    good (connection refused, timeouts, 5xx after its own retries) is taken out for ``cooldown_s`` and the request
    is sent to another one; only when every replica has failed it does the request fail. Rate limits are handled
    by each replica's own client (Retry-After), and an unusable endpoint (bad key, unknown model) stops the run.
    A replica whose circuit breaker trips (`EndpointDown`) is routed around like a failing one; when every replica
    is down, the request raises `EndpointDown` and the run stops.

    Args:
        replicas: backends serving the same model, with their names (the base URLs) for messages.
        cooldown_s: how long a failed replica is left out before it is tried again.
    """

    def __init__(self, replicas: Sequence[tuple[str, ModelBackend]], *, cooldown_s: float = 30.0) -> None:
        if len(replicas) < 2:
            raise ValueError("a replicated backend needs at least two replicas")
        self.replicas = [_Replica(backend, name) for name, backend in replicas]
        self.cooldown_s = cooldown_s

    @property
    def model(self) -> str:
        return self.replicas[0].backend.model

    def cache_identity(self) -> dict[str, Any]:
        # Which replica answers must not change the cache key: they all serve the same model.
        first = self.replicas[0].backend.cache_identity()
        return {**first, "base_url": sorted(r.name for r in self.replicas)}

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        return self.replicas[0].backend.request_body(request)

    async def check(self) -> list[str]:
        warnings: list[str] = []
        unreachable = []
        for replica in self.replicas:
            try:
                warnings.extend(await replica.backend.check())
            except FatalEndpointError as exc:
                if "cannot reach" not in str(exc):
                    raise  # a rejected key or similar applies to the whole run
                unreachable.append(replica.name)
                replica.down_until = time.monotonic() + self.cooldown_s
        if len(unreachable) == len(self.replicas):
            raise FatalEndpointError(f"none of the {len(self.replicas)} endpoints can be reached: "
                                     + ", ".join(unreachable))
        warnings.extend(f"endpoint {name} cannot be reached; routing around it" for name in unreachable)
        return warnings

    def _pick(self, tried: set[int]) -> int | None:
        candidates = [i for i, r in enumerate(self.replicas) if i not in tried]
        if not candidates:
            return None
        healthy = [i for i in candidates if self.replicas[i].healthy] or candidates
        return min(healthy, key=lambda i: (self.replicas[i].in_flight, self.replicas[i].served))

    async def complete(self, request: ChatRequest, on_delta: DeltaCallback | None = None) -> ChatResponse:
        tried: set[int] = set()
        errors: list[str] = []
        down: list[EndpointDown] = []
        stream = _DeliveryTracker(on_delta) if on_delta is not None else None
        while True:
            index = self._pick(tried)
            if index is None:
                if len(down) == len(self.replicas):
                    raise EndpointDown("every endpoint stopped answering: " + "; ".join(errors),
                                       endpoint=", ".join(r.name for r in self.replicas), kind=down[-1].kind,
                                       answered=any(d.answered for d in down))
                raise ModelCallError("every endpoint failed: " + "; ".join(errors))
            tried.add(index)
            replica = self.replicas[index]
            replica.in_flight += 1
            try:
                response = await replica.backend.complete(request, stream)
            except EndpointDown as exc:
                if stream is not None and not stream.start_over():
                    raise
                down.append(exc)
                replica.failures += 1
                replica.down_until = time.monotonic() + self.cooldown_s
                errors.append(f"{replica.name}: {exc.reason}")
                continue
            except ModelCallError as exc:
                if exc.status is not None and exc.status < 500 and exc.status != 429:
                    raise  # the request itself is at fault (e.g. 400): another replica would refuse it too
                if stream is not None and not stream.start_over():
                    raise
                replica.failures += 1
                replica.down_until = time.monotonic() + self.cooldown_s
                errors.append(f"{replica.name}: {exc.reason}")
                continue
            finally:
                replica.in_flight -= 1
            replica.served += 1
            return response

    def stats(self) -> dict[str, dict[str, int]]:
        """Requests served and failures per replica."""
        return {r.name: {"served": r.served, "failures": r.failures} for r in self.replicas}

    async def aclose(self) -> None:
        await asyncio.gather(*(r.backend.aclose() for r in self.replicas))

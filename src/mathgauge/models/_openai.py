"""OpenAI-compatible chat completions (OpenAI, vLLM, SGLang, Ollama, llama.cpp server, any /v1/chat/completions)."""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from typing import Any
from urllib.parse import urlparse

from ._http import HttpSession
from ._limiter import AdaptiveLimiter
from ._protocol import (
    ChatRequest,
    ChatResponse,
    DeltaCallback,
    FatalEndpointError,
    ModelCallError,
    _DeliveryTracker,
    chat_request_body,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_RATE_LIMIT_STATUSES = {429, 503}
_RETRY_STATUSES = {408, 409, 425, 500, 502, 504, 520, 522, 524}
_MAX_RETRY_AFTER_S = 300.0


class _Retryable(Exception):
    """A failed try worth repeating; ``overloaded`` ones (429/503, a stream cut off because another request
    arrived) also lower the concurrency, as the server is telling the client to send less at once."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None,
                 overloaded: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.overloaded = overloaded or status in _RATE_LIMIT_STATUSES


class OpenAICompatibleBackend:
    """Async client for an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: model name sent in every request.
        base_url: endpoint root including ``/v1`` (e.g. ``http://127.0.0.1:8000/v1``).
        api_key: bearer token; ``None`` sends no Authorization header (fine for local servers).
        concurrency: most requests in flight; shrinks under rate limiting and recovers.
        max_retries: tries after the first for timeouts, connection errors and 5xx.
        max_rate_limit_retries: tries after the first for 429/503 (honouring Retry-After).
        request_timeout_s: limit for one HTTP exchange (long: reasoning models write for minutes).
        backoff_base_s, backoff_cap_s: jittered exponential back-off bounds.
        stream_usage: ask for token usage at the end of a stream (``stream_options: {"include_usage": true}``;
            llama.cpp, vLLM and OpenAI send none without it). A server that rejects the field with a 400/422
            naming it is asked again without it, and never again with it; ``False`` never sends it.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        concurrency: int = 32,
        max_retries: int = 5,
        max_rate_limit_retries: int = 30,
        request_timeout_s: float = 600.0,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 60.0,
        stream_usage: bool = True,
    ) -> None:
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise FatalEndpointError(f"invalid base URL {base_url!r}: expected http(s)://host[:port]/v1")
        self._model = model
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.limiter = AdaptiveLimiter(concurrency)
        self.max_retries = max_retries
        self.max_rate_limit_retries = max_rate_limit_retries
        self.request_timeout_s = request_timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        #: Whether streamed requests ask for usage; turned off when the server rejects the field.
        self.stream_usage = stream_usage
        self._session: Any = None

    @property
    def model(self) -> str:
        return self._model

    def cache_identity(self) -> dict[str, Any]:
        return {"backend": "openai", "model": self._model, "base_url": self.base_url}

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        return chat_request_body(self._model, request)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    async def _get_session(self) -> Any:
        if self._session is None:
            # mathgauge's own small client (see _http.py): a fraction of aiohttp's start-up and per-request CPU.
            self._session = HttpSession(timeout_s=self.request_timeout_s, connect_timeout_s=30.0)
        return self._session

    async def check(self) -> list[str]:
        """Probe ``GET /models``: unreachable host or a rejected key stop the run before any sample is sent."""
        session = await self._get_session()
        try:
            async with session.get(f"{self.base_url}/models", headers=self._headers(), timeout_s=30) as resp:
                body = await resp.text()
                if resp.status in (401, 403):
                    raise FatalEndpointError(_auth_message(self.base_url, resp.status, body))
                if resp.status != 200:
                    return []  # many compatible servers have no /models; the first completion will tell
                try:
                    served = [m.get("id") for m in json.loads(body).get("data", [])]
                except (ValueError, AttributeError):
                    return []
                if served and self._model not in served:
                    shown = ", ".join(str(s) for s in served[:8])
                    return [f"model {self._model!r} is not in the endpoint's /models list ({shown})"]
                return []
        except (asyncio.TimeoutError, OSError) as exc:  # HttpError is an OSError
            raise FatalEndpointError(
                f"cannot reach the model endpoint {self.base_url} ({type(exc).__name__}: {exc}); "
                f"check --base-url (or OPENAI_BASE_URL)"
            ) from None

    async def complete(self, request: ChatRequest, on_delta: DeltaCallback | None = None) -> ChatResponse:
        if on_delta is None or not self.stream_usage:
            return await self._complete(request, on_delta, stream_usage=False)
        try:
            return await self._complete(request, on_delta, stream_usage=True)
        except ModelCallError as exc:
            if exc.status not in (400, 422) or "stream_options" not in exc.reason:
                raise
        # The server does not know the field (a 400 names it before any text is streamed): without usage then,
        # and the stored token counts are unknown rather than 0.
        self.stream_usage = False
        return await self._complete(request, on_delta, stream_usage=False)

    async def _complete(self, request: ChatRequest, on_delta: DeltaCallback | None, *,
                        stream_usage: bool) -> ChatResponse:
        body = self.request_body(request)
        stream = _DeliveryTracker(on_delta) if on_delta is not None else None
        if stream is not None:
            body["stream"] = True
            if stream_usage:
                body["stream_options"] = {"include_usage": True}
        started = time.monotonic()
        retries = rate_retries = 0
        while True:
            async with self.limiter:
                t0 = time.monotonic()
                try:
                    response = await self._post(body, stream)
                except _Retryable as exc:
                    failure = exc
                else:
                    self.limiter.on_success()
                    response.latency_s = time.monotonic() - t0
                    response.total_s = time.monotonic() - started
                    response.retries = retries + rate_retries
                    return response
            if failure.overloaded:
                self.limiter.on_rate_limited()
                rate_retries += 1
                if rate_retries > self.max_rate_limit_retries:
                    limited = "rate limited: " if failure.status in _RATE_LIMIT_STATUSES else ""
                    raise ModelCallError(
                        f"{limited}{failure.reason} (gave up after {rate_retries} tries)",
                        status=failure.status,
                        retries=retries + rate_retries,
                    )
                delay = failure.retry_after if failure.retry_after is not None else self._backoff(rate_retries)
                delay = delay * random.uniform(1.0, 1.1)  # small jitter: clients told "1 s" don't all return at once
            else:
                retries += 1
                if retries > self.max_retries:
                    raise ModelCallError(
                        f"{failure.reason} (gave up after {retries} tries)",
                        status=failure.status,
                        retries=retries + rate_retries,
                    )
                delay = self._backoff(retries)
            if stream is not None and not stream.start_over():
                raise ModelCallError(
                    f"{failure.reason}; part of the stream was already delivered and the caller cannot start over",
                    status=failure.status, retries=retries + rate_retries,
                )
            await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1)))

    async def _post(self, body: dict[str, Any], on_delta: DeltaCallback | None) -> ChatResponse:
        session = await self._get_session()
        try:
            async with session.post(
                f"{self.base_url}/chat/completions", json=body, headers=self._headers()
            ) as resp:
                if resp.status != 200:
                    text = await resp.text()
                    self._raise_for_status(resp.status, text, resp.headers.get("Retry-After"))
                if on_delta is not None:
                    return await _read_stream(resp, on_delta)
                raw = await resp.read()
        except (asyncio.TimeoutError, OSError) as exc:  # HttpError is an OSError
            raise _Retryable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
        return _parse_completion(raw)

    def _raise_for_status(self, status: int, text: str, retry_after: str | None) -> None:
        detail = _error_detail(text)
        if status in (401, 403):
            raise FatalEndpointError(_auth_message(self.base_url, status, text))
        if status == 404:
            raise FatalEndpointError(
                f"the endpoint answered 404 for model {self._model!r} at {self.base_url}/chat/completions"
                f" ({detail}); check --model and --base-url"
            )
        if status in _RATE_LIMIT_STATUSES or status in _RETRY_STATUSES or status >= 500:
            raise _Retryable(f"HTTP {status}: {detail}", status=status, retry_after=_parse_retry_after(retry_after))
        raise ModelCallError(f"HTTP {status}: {detail}", status=status)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _auth_message(base_url: str, status: int, text: str) -> str:
    return (
        f"the endpoint {base_url} rejected the request with HTTP {status} ({_error_detail(text)}); "
        f"set a valid key in OPENAI_API_KEY or name another variable with --api-key-env"
    )


def _error_detail(text: str) -> str:
    try:
        doc = json.loads(text)
        err = doc.get("error", doc) if isinstance(doc, dict) else doc
        message = err.get("message") if isinstance(err, dict) else err
        return str(message)[:300]
    except ValueError:
        return text.strip()[:300] or "no body"


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        seconds = parsed.timestamp() - time.time()
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


def _parse_completion(raw: bytes) -> ChatResponse:
    try:
        doc = json.loads(raw)
        choice = doc["choices"][0]
        message = choice.get("message") or {}
    except (ValueError, KeyError, IndexError, TypeError):
        raise _Retryable(f"malformed response body: {raw[:200]!r}") from None
    usage = doc.get("usage") or {}
    return ChatResponse(
        text=message.get("content") or "",
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        reasoning=message.get("reasoning_content") or message.get("reasoning"),
    )


async def _read_stream(resp: Any, on_delta: DeltaCallback) -> ChatResponse:
    """Read a server-sent-events stream, passing each content delta to ``on_delta``."""
    parts: list[str] = []
    reasoning: list[str] = []
    finish_reason: str | None = None
    usage: dict[str, Any] = {}
    async for raw_line in resp.content:
        line = raw_line.decode("utf-8", "replace").strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise _Retryable(f"malformed stream chunk: {data[:200]!r}") from None
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                reasoning.append(delta["reasoning_content"])
            if delta.get("content"):
                parts.append(delta["content"])
                if on_delta(delta["content"]) is False:
                    return ChatResponse(
                        text="".join(parts),
                        finish_reason="stopped_by_client",
                        reasoning="".join(reasoning) or None,
                    )
            finish_reason = choice.get("finish_reason") or finish_reason
    if finish_reason is None:
        # Every compatible server ends a finished stream with a finish_reason; without one the server cut the
        # stream off (llama-cpp-python's server does so to a stream when another request arrives, unless started
        # with --interrupt_requests False) and the text is a fragment, not an answer to grade.
        raise _Retryable(f"the stream ended without a finish_reason after {sum(map(len, parts))} characters "
                         f"(the server cut it off; llama-cpp-python's server does so when another request "
                         f"arrives unless started with --interrupt_requests False)", overloaded=True)
    return ChatResponse(
        text="".join(parts),
        finish_reason=finish_reason,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        reasoning="".join(reasoning) or None,
    )

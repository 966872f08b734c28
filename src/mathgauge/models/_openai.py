"""OpenAI-compatible chat completions (OpenAI, vLLM, SGLang, Ollama, llama.cpp server, any /v1/chat/completions)."""

from __future__ import annotations

import asyncio
import email.utils
import html
import json
import random
import re
import time
from typing import Any
from urllib.parse import urlparse

from ._health import DEFAULT_FAULT_LIMIT, EndpointHealth
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
    arrived) also lower the concurrency, as the server is telling the client to send less at once; ``fault`` ones
    got no API reply at all (connection failure, timeout, HTML or other non-API body, an empty reply) and count
    towards the circuit breaker (`EndpointHealth`)."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None,
                 overloaded: bool = False, fault: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.fault = fault
        self.overloaded = not fault and (overloaded or status in _RATE_LIMIT_STATUSES)


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
        api_key_env: the environment variable the key came from (named in messages about the key).
        health: watches the endpoint as a whole (circuit breaker, rate-limit storms); default: one of its own that
            trips after max(8, max_retries + 2) consecutive tries without an API reply.
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
        api_key_env: str = "OPENAI_API_KEY",
        health: EndpointHealth | None = None,
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
        self.api_key_env = api_key_env
        self.health = health or EndpointHealth(
            self.base_url, fault_limit=max(DEFAULT_FAULT_LIMIT, max_retries + 2))
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
                    raise FatalEndpointError(self._auth_message(resp.status, body))
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
                    self.health.answered()
                    response.latency_s = time.monotonic() - t0
                    response.total_s = time.monotonic() - started
                    response.retries = retries + rate_retries
                    return response
            rate_limited = failure.status in _RATE_LIMIT_STATUSES and failure.overloaded
            if failure.fault:
                self.health.fault(failure.reason)  # raises EndpointDown when the breaker trips
            elif rate_limited:
                self.health.rate_limited(failure.reason, failure.retry_after)  # raises when a storm lasts
            else:
                self.health.replied()
            if failure.overloaded:
                self.limiter.on_rate_limited()
                rate_retries += 1
                if rate_retries > self.max_rate_limit_retries:
                    limited = "rate limited: " if rate_limited else ""
                    reason = f"{limited}{failure.reason} (gave up after {_tries(retries + rate_retries)})"
                    if rate_limited:
                        self.health.out_of_rate_limit_tries(reason)  # raises when nothing was answered since
                    raise ModelCallError(reason, status=failure.status, retries=retries + rate_retries - 1)
                delay = failure.retry_after if failure.retry_after is not None else self._backoff(rate_retries)
                delay = delay * random.uniform(1.0, 1.1)  # small jitter: clients told "1 s" don't all return at once
            else:
                retries += 1
                if retries > self.max_retries:
                    # Tries, not retries: the first try and max_retries more; the stored count is the retries.
                    raise ModelCallError(
                        f"{failure.reason} (gave up after {_tries(retries + rate_retries)})",
                        status=failure.status,
                        retries=retries + rate_retries - 1,
                    )
                delay = self._backoff(retries)
            if stream is not None and not stream.start_over():
                raise ModelCallError(
                    f"{failure.reason}; part of the stream was already delivered and the caller cannot start over",
                    status=failure.status, retries=retries + rate_retries - 1,
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
        except asyncio.TimeoutError as exc:
            detail = f": {exc}" if str(exc) else ""
            raise _Retryable(f"timeout{detail} (--request-timeout {self.request_timeout_s:g} s, connecting 30 s)",
                             fault=True) from None
        except OSError as exc:  # HttpError is an OSError: refused, reset or dropped connection, malformed response
            raise _Retryable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                             fault=True) from None
        return _parse_completion(raw)

    def _raise_for_status(self, status: int, text: str, retry_after: str | None) -> None:
        detail = _error_detail(text)
        if status in (401, 403):
            raise FatalEndpointError(self._auth_message(status, text))
        if status == 404:
            raise FatalEndpointError(
                f"the endpoint answered 404 for model {self._model!r} at {self.base_url}/chat/completions"
                f" ({detail}); check --model and --base-url"
            )
        if status != 429 and not _is_json(text) and (status >= 500 or _is_html(text)):
            # An HTML error page, or a server error without a JSON body: a proxy, a static web server or a crashed
            # backend, not the API (a 4xx in plain text is the API refusing this request, as below).
            raise _Retryable(f"not an API reply: HTTP {status} with {detail}", status=status, fault=True)
        if status in _RATE_LIMIT_STATUSES or status in _RETRY_STATUSES or status >= 500:
            raise _Retryable(f"HTTP {status}: {detail}", status=status, retry_after=_parse_retry_after(retry_after))
        self.health.replied()
        raise ModelCallError(f"HTTP {status}: {detail}", status=status)

    def _auth_message(self, status: int, text: str) -> str:
        env = self.api_key_env
        if self._api_key:
            fix = f"check the key in {env}"
        else:
            fix = f"{env} is not set: set it to the endpoint's key"
        if env == "OPENAI_API_KEY":
            fix += " (or name another variable with --api-key-env)"
        return f"the endpoint {self.base_url} rejected the request with HTTP {status} ({_error_detail(text)}); {fix}"

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _is_html(text: str) -> bool:
    head = text.lstrip()[:512].lower()
    return head.startswith("<") and any(tag in head for tag in ("<html", "<!doctype", "<head", "<body"))


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _error_detail(text: str) -> str:
    """An error body in one short line: a JSON error's message; an HTML page reduced to its title; other text cut
    short."""
    stripped = text.strip()
    if not stripped:
        return "no body"
    try:
        doc = json.loads(stripped)
    except ValueError:
        pass
    else:
        err = doc.get("error", doc) if isinstance(doc, dict) else doc
        message = err.get("message") if isinstance(err, dict) else err
        return str(message)[:300]
    if _is_html(stripped):
        title = _TITLE.search(stripped)
        name = " ".join(html.unescape(title.group(1)).split())[:120] if title else ""
        return f"an HTML page titled {name!r}" if name else "an HTML page"
    line = " ".join(stripped.split())
    return f"a body that is not JSON: {line[:200]!r}"


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"


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
    except ValueError:
        text = raw.decode("utf-8", "replace")
        what = "a truncated JSON body" if text.lstrip().startswith("{") else _error_detail(text)
        raise _Retryable(f"not an API reply: HTTP 200 with {what}", fault=True) from None
    try:
        choice = doc["choices"][0]
        message = choice.get("message") or {}
    except (KeyError, IndexError, TypeError, AttributeError):
        raise _Retryable(f"not an API reply: HTTP 200 JSON without choices: {raw[:200]!r}", fault=True) from None
    _check_content(message.get("content"), choice.get("finish_reason"), bool(message.get("tool_calls")))
    usage = doc.get("usage") or {}
    return ChatResponse(
        text=message.get("content") or "",
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        reasoning=message.get("reasoning_content") or message.get("reasoning"),
    )


def _check_content(content: str | None, finish_reason: str | None, tool_calls: bool) -> None:
    """Refuse a reply without content: it is no answer to grade (and must never be cached and replayed).

    An empty reply (no content, no tool calls) is a fault like a 5xx, retried; one cut by ``max_tokens`` (finish
    reason ``length``, e.g. a reasoning model that spent its budget thinking) is the model's real answer; one the
    provider's content filter stopped fails the call at once (a retry would be filtered again).
    """
    if tool_calls or (content and not content.isspace()) or finish_reason == "length":
        return
    if finish_reason == "content_filter":
        raise ModelCallError("the provider's content filter stopped the reply (finish_reason content_filter)")
    shown = "null" if content is None else repr(content)
    raise _Retryable(f"empty reply: HTTP 200 with content {shown} and no tool calls "
                     f"(finish_reason {finish_reason!r})", fault=True)


async def _read_stream(resp: Any, on_delta: DeltaCallback) -> ChatResponse:
    """Read a server-sent-events stream, passing each content delta to ``on_delta``."""
    parts: list[str] = []
    reasoning: list[str] = []
    finish_reason: str | None = None
    usage: dict[str, Any] = {}
    events = 0
    other: list[str] = []  # what came instead of events, for the message when no event came at all
    async for raw_line in resp.content:
        line = raw_line.decode("utf-8", "replace").strip()
        if not line.startswith("data:"):
            if line and len(other) < 64:
                other.append(line)
            continue
        events += 1
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise _Retryable(f"not an API reply: malformed stream chunk {data[:200]!r}", fault=True) from None
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
    if not events:  # an HTML page or other text where a stream of events was expected: not the API
        raise _Retryable(f"not an API reply: HTTP 200 with {_error_detail(chr(10).join(other))} instead of a "
                         f"stream of events", fault=True)
    if finish_reason is None:
        # Every compatible server ends a finished stream with a finish_reason; without one the server cut the
        # stream off (llama-cpp-python's server does so to a stream when another request arrives, unless started
        # with --interrupt_requests False) and the text is a fragment, not an answer to grade.
        raise _Retryable(f"the stream ended without a finish_reason after {sum(map(len, parts))} characters "
                         f"(the server cut it off; llama-cpp-python's server does so when another request "
                         f"arrives unless started with --interrupt_requests False)", overloaded=True)
    _check_content("".join(parts), finish_reason, False)
    return ChatResponse(
        text="".join(parts),
        finish_reason=finish_reason,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        reasoning="".join(reasoning) or None,
    )

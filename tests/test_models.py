"""The OpenAI-compatible backend against the scripted server running as a real process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from mathgauge.models import (
    EndpointDown,
    AdaptiveLimiter,
    CachedBackend,
    ChatRequest,
    FatalEndpointError,
    ModelCallError,
    OpenAICompatibleBackend,
)
from mathgauge.models._openai import _parse_retry_after
from mathgauge.testing import scripted_server

PROBLEM = "How many positive whole-number divisors does 196 have?"


def _request(**kw: Any) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": PROBLEM}], **kw)


async def _complete(backend: OpenAICompatibleBackend, request: ChatRequest, **kw: Any) -> Any:
    try:
        return await backend.complete(request, **kw)
    finally:
        await backend.aclose()


def test_completion_returns_text_usage_and_finish_reason(server: Any) -> None:
    backend = OpenAICompatibleBackend("m", base_url=server.base_url)
    response = asyncio.run(_complete(backend, _request()))
    assert "\\boxed{9}" in response.text or "\\boxed{999999}" in response.text or "not able" in response.text
    assert response.finish_reason == "stop"
    assert response.prompt_tokens and response.completion_tokens
    assert response.retries == 0 and response.latency_s > 0


def test_request_body_carries_sampling_settings_and_omits_unset() -> None:
    backend = OpenAICompatibleBackend("m", base_url="http://127.0.0.1:1/v1")
    body = backend.request_body(_request(temperature=0.6, top_p=0.95, max_tokens=100, seed=3))
    assert body == {"model": "m", "messages": [{"role": "user", "content": PROBLEM}], "temperature": 0.6,
                    "top_p": 0.95, "max_tokens": 100, "seed": 3}
    assert "max_tokens" not in backend.request_body(_request())


def test_rate_limits_are_retried_honouring_retry_after(math500_path: Path) -> None:
    with scripted_server("--data", str(math500_path), "--reject-every", "2", "--retry-after", "0.3") as srv:
        backend = OpenAICompatibleBackend("m", base_url=srv.base_url)

        async def two() -> list[Any]:
            try:
                return [await backend.complete(_request()), await backend.complete(_request())]
            finally:
                await backend.aclose()

        start = time.monotonic()
        first, second = asyncio.run(two())
        elapsed = time.monotonic() - start
        assert first.retries == 0 and second.retries == 1
        assert elapsed >= 0.3  # waited the Retry-After before the retry
        assert second.total_s >= 0.3 > second.latency_s
        assert srv.stats()["rejected"] == 1


def test_all_rejected_fails_with_reason_after_bounded_retries(math500_path: Path) -> None:
    with scripted_server("--reject-all", "--retry-after", "0.01") as srv:
        backend = OpenAICompatibleBackend("m", base_url=srv.base_url, max_rate_limit_retries=3)

        async def three() -> list[BaseException]:
            failures: list[BaseException] = []
            try:
                for _ in range(3):
                    try:
                        await backend.complete(_request())
                    except ModelCallError as exc:
                        failures.append(exc)
            except EndpointDown as exc:
                failures.append(exc)
            finally:
                await backend.aclose()
            return failures

        first, second, third = asyncio.run(three())
        assert isinstance(first, ModelCallError) and "rate limited" in first.reason and "4 tries" in first.reason
        assert first.status == 429 and first.retries == 3
        # The third request out of tries with nothing answered since the storm began: the endpoint as a whole is
        # given up instead of every request spending its own tries.
        assert isinstance(third, EndpointDown) and third.kind == "rate_limited" and not third.answered
        assert "3 requests ran out of tries" in third.reason
        assert srv.stats()["chat_requests"] == 12


def test_a_request_out_of_rate_limit_tries_fails_alone_while_others_are_answered(math500_path: Path) -> None:
    with scripted_server("--data", str(math500_path), "--reject-every", "2", "--retry-after", "0.01") as srv:
        backend = OpenAICompatibleBackend("m", base_url=srv.base_url, max_rate_limit_retries=0)

        async def two() -> tuple[Any, BaseException | None]:
            try:
                first = await backend.complete(_request())  # request 1 answered
                try:
                    await backend.complete(_request())  # request 2 rejected, no tries left
                except ModelCallError as exc:
                    return first, exc
                return first, None
            finally:
                await backend.aclose()

        first, failure = asyncio.run(two())
        assert first.text and isinstance(failure, ModelCallError) and not isinstance(failure, EndpointDown)
        assert "gave up after 1 try)" in failure.reason and failure.retries == 0


def test_server_errors_are_retried_with_backoff_then_fail() -> None:
    with scripted_server("--reject-all", "--error-status", "500") as srv:
        backend = OpenAICompatibleBackend("m", base_url=srv.base_url, max_retries=2, backoff_base_s=0.01)
        with pytest.raises(ModelCallError, match="HTTP 500.*gave up after 3 tries") as err:
            asyncio.run(_complete(backend, _request()))
        assert srv.stats()["chat_requests"] == 3
        assert err.value.retries == 2  # 3 tries are the first and 2 retries


def test_bad_key_and_unknown_model_are_fatal() -> None:
    with scripted_server("--api-key", "sk-right", "--model", "served") as srv:
        wrong_key = OpenAICompatibleBackend("served", base_url=srv.base_url, api_key="sk-wrong")
        with pytest.raises(FatalEndpointError, match="HTTP 401.*OPENAI_API_KEY"):
            asyncio.run(_complete(wrong_key, _request()))

        async def check(b: OpenAICompatibleBackend) -> list[str]:
            try:
                return await b.check()
            finally:
                await b.aclose()

        with pytest.raises(FatalEndpointError, match="401"):
            asyncio.run(check(OpenAICompatibleBackend("served", base_url=srv.base_url)))
        wrong_model = OpenAICompatibleBackend("nope", base_url=srv.base_url, api_key="sk-right")
        with pytest.raises(FatalEndpointError, match="404 for model 'nope'"):
            asyncio.run(_complete(wrong_model, _request()))
        warnings = asyncio.run(check(OpenAICompatibleBackend("nope", base_url=srv.base_url, api_key="sk-right")))
        assert warnings and "not in the endpoint's /models list" in warnings[0]


def test_unreachable_or_malformed_base_url_is_fatal() -> None:
    backend = OpenAICompatibleBackend("m", base_url="http://127.0.0.1:9/v1")

    async def check() -> None:
        try:
            await backend.check()
        finally:
            await backend.aclose()

    with pytest.raises(FatalEndpointError, match="cannot reach the model endpoint http://127.0.0.1:9/v1"):
        asyncio.run(check())
    with pytest.raises(FatalEndpointError, match="invalid base URL"):
        OpenAICompatibleBackend("m", base_url="127.0.0.1:8000")


def test_streaming_delivers_deltas_and_can_stop_early(server: Any) -> None:
    deltas: list[str] = []
    backend = OpenAICompatibleBackend("m", base_url=server.base_url)
    response = asyncio.run(_complete(backend, _request(), on_delta=deltas.append))
    assert "".join(deltas) == response.text and len(deltas) > 5
    assert response.finish_reason == "stop" and response.completion_tokens

    seen: list[str] = []

    def stop_after_three(delta: str) -> bool:
        seen.append(delta)
        return len(seen) < 3

    backend = OpenAICompatibleBackend("m", base_url=server.base_url)
    stopped = asyncio.run(_complete(backend, _request(), on_delta=stop_after_three))
    assert stopped.finish_reason == "stopped_by_client" and stopped.text == "".join(seen)


def test_cache_answers_repeats_but_not_other_samples(math500_path: Path, memory_cache: Any) -> None:
    with scripted_server("--data", str(math500_path)) as srv:
        cache = memory_cache

        async def calls() -> list[Any]:
            backend = CachedBackend(OpenAICompatibleBackend("m", base_url=srv.base_url), cache)
            try:
                return [await backend.complete(_request()), await backend.complete(_request()),
                        await backend.complete(_request(sample_index=1))]
            finally:
                await backend.aclose()

        first, repeat, other_sample = asyncio.run(calls())
        assert not first.cached and repeat.cached and repeat.text == first.text
        assert not other_sample.cached
        assert srv.stats()["chat_requests"] == 2


def test_concurrency_is_bounded(math500_path: Path) -> None:
    with scripted_server("--data", str(math500_path), "--latency", "0.05") as srv:
        backend = OpenAICompatibleBackend("m", base_url=srv.base_url, concurrency=5)

        async def many() -> None:
            try:
                await asyncio.gather(*[backend.complete(_request(sample_index=i)) for i in range(30)])
            finally:
                await backend.aclose()

        asyncio.run(many())
        stats = srv.stats()
        assert stats["chat_requests"] == 30 and 1 < stats["max_in_flight"] <= 5


def test_limiter_shrinks_on_rate_limits_and_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("mathgauge.models._limiter.time.monotonic", lambda: clock[0])
    limiter = AdaptiveLimiter(64)
    limiter.on_rate_limited()
    assert limiter.limit == 51
    limiter.on_rate_limited()  # same second: no second cut
    assert limiter.limit == 51
    for _ in range(20):
        clock[0] += 1.0
        limiter.on_rate_limited()
    assert limiter.limit == 8  # floor: an eighth of the requested concurrency
    clock[0] += 3.0
    for _ in range(100):
        limiter.on_success()
    assert limiter.limit == 64


def test_retry_after_parsing() -> None:
    assert _parse_retry_after("2") == 2.0
    assert _parse_retry_after("0.5") == 0.5
    assert _parse_retry_after(None) is None
    assert _parse_retry_after("99999") == 300.0
    from email.utils import formatdate

    assert 5 <= _parse_retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10  # type: ignore[operator]


def test_replicated_backend_fails_over_from_an_erroring_replica(math500_path: Path) -> None:
    from mathgauge.models import ReplicatedBackend

    with scripted_server("--reject-all", "--error-status", "500") as broken, \
            scripted_server("--data", str(math500_path)) as healthy:
        backend = ReplicatedBackend([
            (broken.base_url, OpenAICompatibleBackend("m", base_url=broken.base_url, max_retries=1,
                                                      backoff_base_s=0.01)),
            (healthy.base_url, OpenAICompatibleBackend("m", base_url=healthy.base_url)),
        ])

        async def many() -> list[Any]:
            try:
                return await asyncio.gather(*[backend.complete(_request(sample_index=i)) for i in range(6)])
            finally:
                await backend.aclose()

        responses = asyncio.run(many())
        assert len(responses) == 6 and all(r.text for r in responses)
        stats = backend.stats()
        assert stats[broken.base_url]["failures"] >= 1 and stats[healthy.base_url]["served"] == 6
        # Once it failed, the broken replica sat out its cooldown instead of being tried for every request.
        assert broken.stats()["chat_requests"] <= 2 * stats[broken.base_url]["failures"]


class _RestartableConsumer:
    """A stream consumer that can be told to start over, as the regeneration monitor can."""

    def __init__(self) -> None:
        self.deltas: list[str] = []
        self.restarts = 0

    def __call__(self, delta: str) -> None:
        self.deltas.append(delta)

    def restart(self) -> None:
        self.deltas.clear()
        self.restarts += 1


def test_a_stream_cut_off_by_the_server_is_retried_not_graded(math500_path: Path) -> None:
    # The server ends every second stream halfway with [DONE] and no finish_reason, as llama-cpp-python's server
    # does to a stream when another request arrives.
    with scripted_server("--data", str(math500_path), "--interrupt-stream-every", "2") as srv:
        backend = OpenAICompatibleBackend("m", base_url=srv.base_url, concurrency=10, backoff_base_s=0.01)

        async def calls() -> tuple[Any, Any, _RestartableConsumer]:
            try:
                whole = await backend.complete(_request(), on_delta=lambda d: None)  # stream 1: whole
                consumer = _RestartableConsumer()
                retried = await backend.complete(_request(), on_delta=consumer)  # stream 2 cut, stream 3 whole
                return whole, retried, consumer
            finally:
                await backend.aclose()

        whole, retried, consumer = asyncio.run(calls())
        assert srv.stats()["streams_interrupted"] == 1
        assert backend.limiter.limit == 8  # a cut stream says "fewer at once", as a 429 does
    assert retried.text == whole.text and retried.finish_reason == "stop" and retried.retries == 1
    assert consumer.restarts == 1 and "".join(consumer.deltas) == whole.text  # nothing delivered twice


def test_a_cut_stream_fails_when_the_consumer_cannot_start_over(math500_path: Path) -> None:
    with scripted_server("--data", str(math500_path), "--interrupt-stream-every", "1") as srv:
        deltas: list[str] = []
        backend = OpenAICompatibleBackend("m", base_url=srv.base_url, backoff_base_s=0.01)
        with pytest.raises(ModelCallError, match="without a finish_reason.*cannot start over"):
            asyncio.run(_complete(backend, _request(), on_delta=deltas.append))
        assert srv.stats()["streams_interrupted"] == 1  # given up at once: a retry would repeat the deltas
        assert deltas  # half a stream arrived before the cut
        # Without streaming nothing can be cut short.
        plain = asyncio.run(_complete(OpenAICompatibleBackend("m", base_url=srv.base_url), _request()))
        assert plain.finish_reason == "stop" and plain.text


def test_failing_over_mid_stream_restarts_the_consumer(math500_path: Path) -> None:
    from mathgauge.models import ReplicatedBackend

    with scripted_server("--data", str(math500_path), "--interrupt-stream-every", "1") as cutting, \
            scripted_server("--data", str(math500_path)) as healthy:
        def replicas() -> ReplicatedBackend:
            return ReplicatedBackend([
                (cutting.base_url, OpenAICompatibleBackend("m", base_url=cutting.base_url,
                                                           max_rate_limit_retries=0)),
                (healthy.base_url, OpenAICompatibleBackend("m", base_url=healthy.base_url)),
            ])

        async def stream(on_delta: Any) -> Any:
            backend = replicas()
            try:
                return await backend.complete(_request(), on_delta=on_delta)
            finally:
                await backend.aclose()

        consumer = _RestartableConsumer()
        response = asyncio.run(stream(consumer))  # the cutting replica is first: half a stream, then the other
        assert consumer.restarts == 1 and "".join(consumer.deltas) == response.text
        assert response.finish_reason == "stop"
        with pytest.raises(ModelCallError, match="without a finish_reason"):
            asyncio.run(stream(lambda delta: None))  # a consumer that cannot start over is not sent more text
        assert cutting.stats()["streams_interrupted"] == 2 and healthy.stats()["completed"] == 1


def test_streams_ask_for_usage_and_drop_the_field_where_a_server_rejects_it(math500_path: Path) -> None:
    async def two_streams(srv: Any) -> tuple[Any, Any, OpenAICompatibleBackend]:
        backend = OpenAICompatibleBackend("m", base_url=srv.base_url)
        try:
            return (await backend.complete(_request(), on_delta=lambda d: None),
                    await backend.complete(_request(), on_delta=lambda d: None), backend)
        finally:
            await backend.aclose()

    with scripted_server("--data", str(math500_path), "--record-requests") as srv:
        first, _, backend = asyncio.run(two_streams(srv))
        sent = _recorded(srv)
    assert [b.get("stream_options") for b in sent] == [{"include_usage": True}] * 2
    assert first.completion_tokens and first.prompt_tokens and backend.stream_usage

    with scripted_server("--data", str(math500_path), "--record-requests", "--reject-stream-options") as srv:
        first, second, backend = asyncio.run(two_streams(srv))
        sent = _recorded(srv)
    # Rejected once (400 naming the field), then asked without it, and never again with it.
    assert ["stream_options" in b for b in sent] == [True, False, False]
    assert first.text and second.text and first.finish_reason == "stop" and not backend.stream_usage
    assert first.completion_tokens is None and first.prompt_tokens is None  # unknown, not 0


def test_other_bad_requests_are_not_retried_without_the_usage_field(math500_path: Path) -> None:
    with scripted_server("--data", str(math500_path), "--record-requests", "--reject-all",
                         "--error-status", "400") as srv:
        backend = OpenAICompatibleBackend("m", base_url=srv.base_url)
        with pytest.raises(ModelCallError, match="HTTP 400"):
            asyncio.run(_complete(backend, _request(), on_delta=lambda d: None))
        assert len(_recorded(srv)) == 1 and backend.stream_usage


def _recorded(srv: Any) -> list[dict]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/requests", timeout=10) as resp:
        return json.loads(resp.read())

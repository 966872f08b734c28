"""Fault injection: `mathgauge run` against a local server that misbehaves as real endpoints do (empty content, an
HTML page, truncated JSON, a reset connection, a cut stream, death mid-run, a key revoked mid-run, a static web
server). A fault now and then is retried to the exact result; an endpoint that stops answering stops the run at
once with one line; nothing stored is lost, nothing empty is cached, nothing is graded that was not an answer."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import sql_rows
from mathgauge.datasets import load_problems
from mathgauge.models import ChatRequest, EndpointDown, EndpointHealth, ModelCallError, OpenAICompatibleBackend
from mathgauge.models._openai import _error_detail
from mathgauge.store import Store
from mathgauge.testing import ScriptRates, scripted_outcome, scripted_server

FAULTS = ["empty", "null", "html", "truncated", "reset"]


def run_args(base_url: str, data: Path, db: Path, *extra: str) -> list[str]:
    return ["run", "--model", "scripted", "--base-url", base_url, "--data-file", str(data), "--store", str(db),
            "--quiet", *extra]


def expected_correct(data: Path) -> int:
    return Counter(scripted_outcome(p.problem, ScriptRates()) for p in load_problems("math500", data_file=data))[
        "correct"]


def cached_texts(db: Path) -> list[str]:
    """The text of every response in a store's response cache."""
    with Store(db, read_only=True) as store:
        return [store.get_response(key)["text"] for (key,) in sql_rows(db, "SELECT key FROM response_cache")]


def point_at(db: Path, base_url: str) -> None:
    """Make the stored run use another endpoint (the same server restarted elsewhere)."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET config_json = json_set(config_json, '$.base_url', ?, '$.spec.base_url',"
                     " json_array(?))", (base_url, base_url))


@pytest.mark.parametrize("fault", [*FAULTS, "cut-stream"])
def test_an_occasional_fault_is_retried_to_the_exact_result(run_cli, small_data, tmp_path, math500_path, fault):
    db, summary = tmp_path / "f.db", tmp_path / "s.json"
    with scripted_server("--data", str(math500_path), "--fault", fault, "--fault-every", "3") as srv:
        result = run_cli(*run_args(srv.base_url, small_data, db, "--summary-json", str(summary),
                                   "--concurrency", "8"))
        faults = srv.stats()["faults"]
    assert result.code == 0, result.err
    doc = json.loads(summary.read_text())
    # Every faulted try was retried, none graded. A reset on a kept-alive connection is sent again once by the HTTP
    # client itself (it cannot tell it from a server that closed an idle connection), below the backend's retries.
    assert faults >= 13 and (0 < doc["retries"] <= faults if fault in ("reset", "cut-stream")
                             else doc["retries"] == faults)
    assert doc["n"] == 40 and doc["failed"] == 0 and doc["correct"] == expected_correct(small_data)
    # Nothing but real answers in the cache: a resumed or repeated run never replays a fault.
    cached = cached_texts(db)
    assert len(cached) == 40 and all(text.strip() for text in cached)


@pytest.mark.parametrize("fault", [*FAULTS, "die"])
def test_an_endpoint_that_stops_answering_stops_the_run_at_once(run_cli, small_data, tmp_path, math500_path,
                                                                 fault):
    db = tmp_path / "f.db"
    started = time.monotonic()
    with scripted_server("--data", str(math500_path), "--fault", fault, "--fault-after", "12") as srv:
        result = run_cli(*run_args(srv.base_url, small_data, db, "--run-name", "broken", "--concurrency", "4"))
    elapsed = time.monotonic() - started
    assert result.code == 3, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: endpoint stopped answering after ")
    assert "of 40 samples" in lines[0] and "`mathgauge resume broken` continues" in lines[0]
    assert "<html" not in result.err.lower() and "Traceback" not in result.err
    assert elapsed < 20  # not 28 samples x 6 tries with back-off
    # The samples not done are left pending, never stored as failed or graded; the run is interrupted.
    statuses = dict(sql_rows(db, "SELECT status, COUNT(*) FROM samples GROUP BY status"))
    assert statuses.get("failed", 0) == 0 and statuses["pending"] >= 40 - 12 and statuses.get("done", 0) <= 12
    assert sql_rows(db, "SELECT status FROM runs") == [("interrupted",)]

    with scripted_server("--data", str(math500_path)) as healthy:  # the endpoint is back: resume finishes
        point_at(db, healthy.base_url)
        resumed = run_cli("resume", "broken", "--store", str(db), "--quiet", "--summary-json",
                          str(tmp_path / "s.json"))
    assert resumed.code == 0, resumed.err
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["n"] == 40 and doc["failed"] == 0 and doc["correct"] == expected_correct(small_data)


def test_a_key_revoked_mid_run_stops_dispatching_at_once(run_cli, small_data, tmp_path, math500_path) -> None:
    db = tmp_path / "k.db"
    with scripted_server("--data", str(math500_path), "--fault", "unauthorized", "--fault-after", "10") as srv:
        result = run_cli(*run_args(srv.base_url, small_data, db, "--run-name", "revoked", "--concurrency", "4"))
        requests = srv.stats()["chat_requests"]
    assert result.code == 2
    assert "HTTP 401" in result.err and "`mathgauge resume revoked` continues once that is fixed" in result.err
    # At most the requests already in flight when the 401 came back; none dispatched after it.
    assert requests <= 11 + 4
    assert sql_rows(db, "SELECT COUNT(*) FROM samples WHERE status = 'failed'") == [(0,)]
    assert sql_rows(db, "SELECT status FROM runs") == [("failed",)]


def test_a_static_web_server_as_endpoint_is_one_line_and_no_run(run_cli, small_data, tmp_path) -> None:
    web = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory",
                            str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int((web.stdout.readline() if web.stdout else "").split(" port ")[1].split()[0])
        started = time.monotonic()
        result = run_cli(*run_args(f"http://127.0.0.1:{port}/v1", small_data, tmp_path / "w.db"))
        elapsed = time.monotonic() - started
    finally:
        web.terminate()
        web.wait()
    assert result.code == 3 and elapsed < 15
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "gave no usable reply" in lines[0] and "an HTML page titled" in lines[0]
    assert "<" not in lines[0] and "nothing was stored (the run was not kept)" in lines[0]
    assert sql_rows(tmp_path / "w.db", "SELECT COUNT(*) FROM runs") == [(0,)]


def test_every_sample_failing_marks_the_run_failed(run_cli, small_data, tmp_path, math500_path) -> None:
    db = tmp_path / "a.db"
    # 400 for every request: the API answers (no breaker), but every sample fails.
    with scripted_server("--data", str(math500_path), "--reject-all", "--error-status", "400") as srv:
        result = run_cli(*run_args(srv.base_url, small_data, db, "--run-name", "allbad"))
    assert result.code == 3
    assert sql_rows(db, "SELECT status, error FROM runs") == [("failed", "every sample failed")]
    assert "40 sample(s) failed" in result.out and "status failed" in result.out


def test_html_error_bodies_are_reduced_to_status_and_title() -> None:
    page = ("<!DOCTYPE html>\n<html><head><meta charset=utf-8><title>\n  502 Bad &amp; Gateway </title></head>"
            "<body>" + "x" * 5000 + "</body></html>")
    assert _error_detail(page) == "an HTML page titled '502 Bad & Gateway'"
    assert _error_detail("<html><body>no title</body></html>") == "an HTML page"
    assert _error_detail('{"error": {"message": "context too long"}}') == "context too long"
    assert _error_detail("") == "no body"
    assert _error_detail("upstream\nconnect error") == "a body that is not JSON: 'upstream connect error'"


def test_the_breaker_trips_on_consecutive_faults_only() -> None:
    health = EndpointHealth("http://x/v1", fault_limit=3)
    health.fault("reset")
    health.fault("reset")
    health.answered()  # an answer in between: the endpoint works
    health.fault("reset")
    health.replied()  # an error the API itself stated: it answers
    health.fault("reset")
    health.fault("reset")
    with pytest.raises(EndpointDown) as err:
        health.fault("connection refused")
    assert err.value.kind == "not_answering" and err.value.answered and "3 tries in a row" in err.value.reason


def test_a_rate_limit_storm_is_given_up_after_its_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("mathgauge.models._health.time.monotonic", lambda: clock[0])
    health = EndpointHealth("http://x/v1", storm_give_up_s=60)
    health.rate_limited("429", retry_after=1)
    clock[0] += 59
    health.rate_limited("429", retry_after=1)
    health.answered()  # one answer ends the storm
    health.rate_limited("429", retry_after=30)
    clock[0] += 80  # 60 s passed, but the server asked for 30 s waits: 3 x 30 s is the limit
    health.rate_limited("429", retry_after=30)
    clock[0] += 11
    with pytest.raises(EndpointDown) as err:
        health.rate_limited("429", retry_after=30)
    assert err.value.kind == "rate_limited" and "every reply for 91 s was a rate limit" in err.value.reason


@pytest.mark.parametrize("fault", ["empty", "null"])
def test_an_empty_reply_is_a_fault_but_a_reply_cut_by_max_tokens_is_an_answer(math500_path, fault) -> None:
    async def complete(url: str, **kw: Any) -> Any:
        backend = OpenAICompatibleBackend("m", base_url=url, max_retries=1, backoff_base_s=0.01)
        try:
            return await backend.complete(ChatRequest(messages=[{"role": "user", "content": "1+1?"}]), **kw)
        finally:
            await backend.aclose()

    with scripted_server("--fault", fault) as srv:
        for stream in (None, lambda delta: None):
            with pytest.raises(ModelCallError, match="empty reply.*gave up after 2 tries") as err:
                asyncio.run(complete(srv.base_url, on_delta=stream))
            assert err.value.retries == 1
    from mathgauge.models._openai import _parse_completion

    cut = _parse_completion(json.dumps({"choices": [{"message": {"content": "", "reasoning_content": "think..."},
                                                     "finish_reason": "length"}]}).encode())
    assert cut.text == "" and cut.finish_reason == "length" and cut.reasoning == "think..."
    tools = _parse_completion(json.dumps({"choices": [{"message": {"content": None, "tool_calls": [{"id": "1"}]},
                                                       "finish_reason": "tool_calls"}]}).encode())
    assert tools.text == ""


def test_a_cached_empty_reply_from_an_older_version_is_asked_again(math500_path, memory_cache) -> None:
    from mathgauge.models import CachedBackend, cache_key

    with scripted_server("--data", str(math500_path)) as srv:
        inner = OpenAICompatibleBackend("m", base_url=srv.base_url)
        backend = CachedBackend(inner, memory_cache)
        request = ChatRequest(messages=[{"role": "user", "content": "What is 1+1?"}])
        memory_cache.put_response(cache_key(inner, request), {"text": "", "finish_reason": "stop"})

        async def go() -> Any:
            try:
                return await backend.complete(request)
            finally:
                await backend.aclose()

        response = asyncio.run(go())
        assert srv.stats()["chat_requests"] == 1
    assert response.text and not response.cached and backend.hits == 0

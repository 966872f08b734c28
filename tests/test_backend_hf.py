"""The in-process ``hf`` backend with a tiny random Llama and a tokenizer trained in the test (no downloads)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path

import pytest
from conftest import require_modules, stored_calls

from mathgauge.errors import ConfigError, EndpointError
from mathgauge.models import ChatRequest, create_backend
from mathgauge.testing import build_tiny_llama

def test_missing_torch_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'mathgauge\[hf\]'"):
        create_backend("hf", "some/model")


@pytest.mark.parametrize("options,message", [
    ({"dtype": "float8"}, "dtype must be one of"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"max_new_tokens": -3}, "max_new_tokens must be a positive integer"),
    ({"no_such_option": 1}, "unexpected keyword"),
])
def test_bad_options_are_config_errors(options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        create_backend("hf", "some/model", **options)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, math500_path: Path) -> Path:
    require_modules("torch", "transformers", extra="hf")
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), math500_path)


@pytest.mark.slow
def test_batches_streams_and_matches_single_generation(tiny_model: Path) -> None:
    async def scenario() -> None:
        backend = create_backend("hf", str(tiny_model), device="cpu", batch_size=4)
        try:
            notes = await backend.check()
            assert any("CPU" in n for n in notes)
            requests = [ChatRequest(messages=[{"role": "user", "content": f"What is {i} + {i}?"}], max_tokens=10)
                        for i in range(6)]
            streamed: dict[int, list[str]] = {0: [], 2: []}
            results = await asyncio.gather(*[
                backend.complete(r, streamed[i].append if i in streamed else None) for i, r in enumerate(requests)
            ])
            # Six concurrent calls with batch_size 4: two generate calls, not six.
            assert backend.batch_sizes == [4, 2]
            for r in results:
                assert r.completion_tokens <= 10 and r.prompt_tokens > 5
                assert r.finish_reason in ("length", "stop")
            for i, parts in streamed.items():
                assert "".join(parts) == results[i].text and len(parts) > 1
            # Greedy results do not depend on the batch a request was in.
            alone = await backend.complete(requests[3])
            assert alone.text == results[3].text
            # A callback returning False stops its generation early.
            seen: list[str] = []
            stopped = await backend.complete(ChatRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=40),
                                             lambda d: seen.append(d) or len(seen) < 2)
            assert stopped.finish_reason == "stopped_by_client" and stopped.completion_tokens < 40
            # Stop strings end the generation and are cut from the text (greedy: same continuation as before).
            full = results[1].text
            stop = full[4:7]
            cut = await backend.complete(ChatRequest(messages=requests[1].messages, max_tokens=10, stop=[stop]))
            assert cut.text == full[:full.find(stop)] and cut.finish_reason == "stop"
            body = backend.request_body(requests[0])
            assert body["backend"] == "hf" and body["max_tokens"] == 10
        finally:
            await backend.aclose()

    asyncio.run(scenario())


@pytest.mark.slow
def test_unloadable_model_is_an_endpoint_error(tmp_path: Path) -> None:
    pytest.importorskip("transformers")

    async def scenario() -> None:
        backend = create_backend("hf", str(tmp_path / "missing"), device="cpu")
        try:
            with pytest.raises(EndpointError, match="cannot load"):
                await backend.check()
        finally:
            await backend.aclose()

    asyncio.run(scenario())


@pytest.mark.slow
def test_mathgauge_run_with_the_hf_backend_end_to_end(tiny_model: Path, small_data: Path, tmp_path: Path,
                                                     run_cli) -> None:
    db, summary = tmp_path / "hf.db", tmp_path / "s.json"
    result = run_cli("run", "--backend", "hf", "--model", str(tiny_model), "--backend-option", "device=cpu",
                     "--backend-option", "batch_size=4", "--data-file", str(small_data), "--limit", "6",
                     "--max-tokens", "8", "--store", str(db), "--summary-json", str(summary), "--quiet")
    assert result.code == 0, result.err
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert doc["n"] == 6 and doc["failed"] == 0
    rows = [(c["response"], c["completion_tokens"], c["request_json"]) for c in stored_calls(db)]
    with sqlite3.connect(db) as conn:
        config = json.loads(conn.execute("SELECT config_json FROM runs").fetchone()[0])
    assert len(rows) == 6 and all(r[0] is not None and 0 < r[1] <= 8 for r in rows)
    assert json.loads(rows[0][2])["backend"] == "hf"
    assert config["backend"] == "hf" and config["backend_options"] == {"device": "cpu", "batch_size": 4}


@pytest.mark.slow
def test_an_in_process_judge_runs_with_its_backend_options(tiny_model: Path, small_data: Path, tmp_path: Path,
                                                           run_cli) -> None:
    from mathgauge.testing import scripted_server

    db = tmp_path / "judge.db"
    with scripted_server("--data", str(small_data)) as model:
        # A random tiny model gives no readable score; its reply is capped by its own option (max_new_tokens).
        result = run_cli("run", "--model", "m", "--base-url", model.base_url, "--data-file", str(small_data),
                         "--limit", "2", "--grader", "judge", "--judge-model", str(tiny_model), "--judge-backend",
                         "hf", "--judge-backend-option", "device=cpu", "--judge-backend-option", "batch_size=2",
                         "--judge-backend-option", "max_new_tokens=6", "--store", str(db), "--quiet")
    assert result.code == 0, result.err
    with sqlite3.connect(db) as conn:
        config = json.loads(conn.execute("SELECT config_json FROM runs").fetchone()[0])
        judged = [json.loads(d) for (d,) in conn.execute("SELECT detail_json FROM grades WHERE grader = 'judge'")]
    assert config["judge"]["backend"] == "hf"
    assert config["judge"]["backend_options"] == {"device": "cpu", "batch_size": 2, "max_new_tokens": 6}
    assert len(judged) == 2 and all(d["status"] in ("ok", "unparseable") for d in judged)

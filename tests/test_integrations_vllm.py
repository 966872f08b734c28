"""The in-process ``vllm`` backend: option checks everywhere; a real generation only with vLLM and a GPU."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path

import pytest
from conftest import stored_calls

from mathgauge.errors import ConfigError
from mathgauge.models import ChatRequest, create_backend


def _has_vllm_and_gpu() -> bool:
    if importlib.util.find_spec("vllm") is None or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


needs_gpu = pytest.mark.skipif(not _has_vllm_and_gpu(), reason="needs vllm and a CUDA GPU")


def test_missing_vllm_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ConfigError, match=r"pip install 'mathgauge\[vllm\]'"):
        create_backend("vllm", "some/model")


@pytest.mark.parametrize("options,message", [
    ({"dtype": "int3"}, "dtype must be one of"),
    ({"tensor_parallel_size": 0}, "tensor_parallel_size must be a positive integer"),
    ({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization must be in"),
    ({"distributed_executor_backend": "slurm"}, "distributed_executor_backend must be"),
])
def test_bad_options_are_config_errors(options, message, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # option errors come first, installed or not
    with pytest.raises(ConfigError, match=message):
        create_backend("vllm", "some/model", **options)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, math500_path: Path) -> Path:
    from mathgauge.testing import build_tiny_llama

    # Head size 64: supported by every vLLM attention backend.
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-vllm"), math500_path, hidden_size=256, heads=4)


@pytest.mark.slow
@needs_gpu
def test_vllm_generates_streams_and_stops(tiny_model: Path) -> None:
    async def scenario() -> None:
        backend = create_backend("vllm", str(tiny_model), gpu_memory_utilization=0.3, enforce_eager=True,
                                 max_model_len=1024)
        try:
            await backend.check()
            requests = [ChatRequest(messages=[{"role": "user", "content": f"What is {i} + {i}?"}], max_tokens=12)
                        for i in range(8)]
            parts: list[str] = []
            results = await asyncio.gather(*[backend.complete(r, parts.append if i == 0 else None)
                                             for i, r in enumerate(requests)])
            assert all(0 < r.completion_tokens <= 12 and r.prompt_tokens > 5 for r in results)
            assert "".join(parts) == results[0].text
            seen: list[str] = []
            stopped = await backend.complete(ChatRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=200),
                                             lambda d: seen.append(d) or len(seen) < 2)
            assert stopped.finish_reason == "stopped_by_client" and stopped.completion_tokens < 200
        finally:
            await backend.aclose()

    asyncio.run(scenario())


@pytest.mark.slow
@needs_gpu
def test_mathgauge_run_with_the_vllm_backend(tiny_model: Path, small_data: Path, tmp_path: Path, run_cli) -> None:
    db, summary = tmp_path / "v.db", tmp_path / "s.json"
    result = run_cli("run", "--backend", "vllm", "--model", str(tiny_model), "--backend-option",
                     "gpu_memory_utilization=0.3", "--backend-option", "enforce_eager=true", "--backend-option",
                     "max_model_len=1024", "--data-file", str(small_data), "--max-tokens", "16", "--store", str(db),
                     "--summary-json", str(summary), "--quiet")
    assert result.code == 0, result.err
    assert json.loads(summary.read_text(encoding="utf-8"))["n"] == 40
    assert sum(c["response"] is not None for c in stored_calls(db)) == 40

"""llama.cpp through its OpenAI-compatible server: the tests' tiny Llama, converted to GGUF and served by
llama-cpp-python (a real server generating real tokens), evaluated through the generic backend."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import require_modules, stored_calls

from mathgauge.errors import ConfigError
from mathgauge.models import ChatRequest, OpenAICompatibleBackend
from mathgauge.testing import build_tiny_llama, write_llama_gguf
from mathgauge.testing._gguf import _unrotate_half
from mathgauge.testing._process import stop_process

MODEL = "tiny-llama"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, math500_path: Path) -> tuple[Path, Path]:
    """The tiny Llama in the Hugging Face layout and the same model as GGUF."""
    require_modules("torch", "transformers", extra="hf")
    require_modules("gguf", "llama_cpp", extra="llamacpp")
    folder = tmp_path_factory.mktemp("tiny-llama")
    hf_dir = build_tiny_llama(folder / "hf", math500_path)
    return hf_dir, write_llama_gguf(hf_dir, folder / "tiny-llama.gguf")


@contextmanager
def llama_cpp_server(gguf: Path, log: Path, *options: str) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` on a free port; yields its ``/v1`` base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL,
             "--n_ctx", "1024", "--n_threads", "2", "--host", "127.0.0.1", "--port", str(port), *options],
            stdout=out, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start in 120 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base_url
    finally:
        stop_process(process, timeout_s=15)


def test_query_and_key_rows_are_paired_for_llama_cpp_rope() -> None:
    import numpy as np

    # Two heads of dimension 4: Hugging Face keeps each head's rotary pairs as halves (0,2) (1,3); llama.cpp rotates
    # neighbouring rows, so the halves are interleaved within each head.
    rows = np.arange(8, dtype=np.float32).reshape(8, 1)
    assert _unrotate_half(rows, 2)[:, 0].tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


@pytest.mark.parametrize(("files", "message"), [
    ({}, "config.json: not found"),
    ({"config.json": "{oops"}, "config.json: not valid JSON"),
    ({"config.json": {"model_type": "mistral"}}, "model_type is 'mistral'; this converter handles 'llama' only"),
    ({"config.json": {"model_type": "llama", "rope_scaling": {"rope_type": "yarn"}}}, "rope type 'yarn'"),
    ({"config.json": {"model_type": "llama", "hidden_size": 8}}, "missing field 'num_attention_heads'"),
    ({"config.json": {"model_type": "llama", "hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1,
                      "intermediate_size": 16},
      "tokenizer.json": {"model": {"type": "Unigram"}, "pre_tokenizer": None}}, "expected a byte-level BPE"),
])
def test_checkpoints_it_cannot_convert_are_named(tmp_path: Path, files: dict, message: str) -> None:
    for name, content in files.items():
        (tmp_path / name).write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ConfigError, match=message):
        write_llama_gguf(tmp_path, tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()


def test_missing_extras_name_what_to_install(tmp_path: Path, math500_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigError, match=r"pip install 'mathgauge\[hf\]'"):
        build_tiny_llama(tmp_path / "m", math500_path)
    config = {"model_type": "llama", "hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1,
              "intermediate_size": 16}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": {"a": 0}},
                                                         "pre_tokenizer": {"type": "ByteLevel"}}))
    (tmp_path / "tokenizer_config.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(ConfigError, match=r"pip install 'mathgauge\[llamacpp\]'"):
        write_llama_gguf(tmp_path, tmp_path / "out.gguf")


def visible(text: str) -> str:
    """The text without U+FFFD: transformers decodes a lone byte token as U+FFFD, llama.cpp drops it."""
    return text.replace("\ufffd", "")


@pytest.mark.slow
def test_gguf_generates_the_same_greedy_tokens_as_transformers(tiny: tuple[Path, Path]) -> None:
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_dir, gguf = tiny
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir)
    llm = Llama(model_path=str(gguf), n_ctx=512, n_threads=2, verbose=False)
    for question in ("What is $1+1$?", "Find the roots of $x^2 - 5x + 6 = 0$.", "How many primes are below 30?"):
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                               add_generation_prompt=True)
        ids = tokenizer(prompt)["input_ids"]
        # Same tokenizer: the GGUF vocabulary, merges and pre-tokenizer split the prompt identically.
        assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == ids
        with torch.no_grad():
            expected = model.generate(torch.tensor([ids]), max_new_tokens=16, do_sample=False)[0, len(ids):].tolist()
        produced: list[int] = []
        for token in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
            produced.append(token)
            if len(produced) == len(expected) or token == llm.token_eos():
                break
        # Same weights: greedy decoding picks the same tokens (a wrong RoPE layout would diverge at once).
        assert produced == expected, question


@pytest.mark.slow
def test_mathgauge_run_through_the_llama_cpp_server_matches_the_hf_backend(
        tiny: tuple[Path, Path], small_data: Path, tmp_path: Path, run_cli) -> None:
    hf_dir, gguf = tiny
    common = ("--data-file", str(small_data), "--limit", "6", "--max-tokens", "12", "--quiet")
    with llama_cpp_server(gguf, tmp_path / "server.log") as base_url:
        served = run_cli("run", "--model", MODEL, "--base-url", base_url, "--concurrency", "2",
                         # llama-cpp-python's server penalises repeats (1.1) unless told otherwise: plain greedy.
                         "--extra-body", "repeat_penalty=1.0", "--store", str(tmp_path / "gguf.db"),
                         "--summary-json", str(tmp_path / "gguf.json"), *common)
    assert served.code == 0, served.err
    local = run_cli("run", "--backend", "hf", "--model", str(hf_dir), "--backend-option", "device=cpu",
                    "--store", str(tmp_path / "hf.db"), *common)
    assert local.code == 0, local.err

    summary = json.loads((tmp_path / "gguf.json").read_text())
    assert summary["n"] == 6 and summary["failed"] == 0

    def responses(db: Path) -> dict[str, tuple[str, int, int]]:
        return {c["problem_id"]: (c["response"], c["prompt_tokens"], c["completion_tokens"])
                for c in stored_calls(db)}

    via_server, in_process = responses(tmp_path / "gguf.db"), responses(tmp_path / "hf.db")
    assert via_server.keys() == in_process.keys() and len(via_server) == 6
    exact = 0
    for pid, (text, prompt_tokens, completion_tokens) in via_server.items():
        hf_text, hf_prompt_tokens, hf_completion_tokens = in_process[pid]
        # The server's usage counts real tokens of the same tokenizer and chat template, and greedy decoding
        # writes the same tokens. llama-cpp-python goes past max_tokens while the text ends in an incomplete UTF-8
        # sequence (a random model writes lone lead bytes), so its response may run on.
        assert prompt_tokens == hf_prompt_tokens, pid
        assert completion_tokens == hf_completion_tokens == 12 or completion_tokens > hf_completion_tokens, pid
        assert visible(text).startswith(visible(hf_text)), pid
        exact += completion_tokens == hf_completion_tokens
    assert exact >= 3  # most responses end on a complete character and match exactly


@pytest.mark.slow
def test_a_stream_the_server_interrupts_is_retried_to_the_whole_answer(tiny: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    # llama-cpp-python's server (default --interrupt_requests True) ends a running stream with [DONE] and no
    # finish_reason as soon as another request waits. Taken as the answer, it would be graded cut in half.
    _, gguf = tiny
    # End-of-sequence banned: the random model writes all 120 tokens, long enough to be interrupted.
    request = ChatRequest(messages=[{"role": "user", "content": "Compute $2^{10}$."}], max_tokens=120,
                          extra_body={"repeat_penalty": 1.0, "logit_bias": {"2": -100}})
    short = ChatRequest(messages=[{"role": "user", "content": "Hi"}], max_tokens=4)

    class Consumer:
        def __init__(self) -> None:
            self.text, self.restarts, self.started = "", 0, asyncio.Event()

        def __call__(self, delta: str) -> None:
            self.text += delta
            self.started.set()

        def restart(self) -> None:
            self.text, self.restarts = "", self.restarts + 1

    async def scenario() -> tuple[object, object, Consumer]:
        backend = OpenAICompatibleBackend(MODEL, base_url=base_url, concurrency=2, backoff_base_s=0.05)
        try:
            whole = await backend.complete(request, on_delta=lambda delta: None)  # alone: nothing interrupts it
            consumer = Consumer()
            streamed = asyncio.create_task(backend.complete(request, on_delta=consumer))
            await consumer.started.wait()
            await backend.complete(short)  # arrives while the stream runs: the server interrupts the stream
            return whole, await streamed, consumer
        finally:
            await backend.aclose()

    with llama_cpp_server(gguf, tmp_path / "server.log") as base_url:
        whole, streamed, consumer = asyncio.run(scenario())
    assert whole.finish_reason == "length" and len(whole.text) > 60
    assert streamed.retries >= 1 and consumer.restarts == streamed.retries
    assert streamed.finish_reason == "length" and streamed.text == whole.text
    assert consumer.text == streamed.text

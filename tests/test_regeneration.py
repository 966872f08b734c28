"""Token-by-token regeneration through the scripted server (a real process) streaming in small chunks."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mathgauge.errors import ConfigError
from mathgauge.models import CachedBackend, ChatRequest, ChatResponse, OpenAICompatibleBackend
from mathgauge.models._regeneration import RegeneratingBackend, RegenerationPolicy, _StreamMonitor
from mathgauge.testing import RunningServer, scripted_server

LOOP_UNIT = "The sum is 12 so we check again. "
LOOP_KEPT = "We add the numbers.\nThe sum is 12 so we check again."
CODE_KEPT = "Compute it.\n```python\nx = 6 * 7\n"
DECIMAL_KEPT = "We need the decimal.\n"

SCRIPT = [
    # Loops, then (resumed from the kept prefix) finishes: the continuation is the text after the prefix.
    {"match": "R-LOOP", "calls": [{"text": "We add the numbers.\n", "repeat": LOOP_UNIT, "times": 3000},
                                  LOOP_KEPT + " Hence $\\boxed{12}$."]},
    # Writes a line that can never become valid Python, then the fixed program.
    {"match": "R-CODE", "calls": [CODE_KEPT + "print(x))\nprint('never')\n```\n",
                                  CODE_KEPT + "print(x)\n```\n"]},
    {"match": "R-CACHE", "calls": [CODE_KEPT + "print(x))\n```\n", CODE_KEPT + "print(x)\n```\n"]},
    # Closes an unfinished statement with the fence.
    {"match": "R-UNFINISHED", "calls": ["Here:\n```python\ny = 2\nprint(2 **\n```\n",
                                        "Here:\n```python\ny = 2\nprint(2 ** 10)\n```\n"]},
    # Emits a code block and then invents its output.
    {"match": "R-OUTPUT", "calls": ["Let me compute.\n```python\nprint(6 * 7)\n```\nThe output is:\n```\n41\n```\n"
                                    "So the answer is $\\boxed{41}$."]},
    # A character loop without spaces.
    {"match": "R-DECIMAL", "calls": [{"text": DECIMAL_KEPT + "It is 0.", "repeat": "3", "times": 4000},
                                     DECIMAL_KEPT + "It is $\\frac{1}{3}$, so $\\boxed{\\frac13}$."]},
    # Never stops looping, whatever the sampling.
    {"match": "R-STUCK", "calls": [{"text": "We add the numbers.\n", "repeat": LOOP_UNIT, "times": 3000}]},
    # Long prose without an answer.
    {"match": "R-LONG", "calls": [" ".join(f"Step {i} rewrites term number {i} once more." for i in range(200))]},
    # Long, sound prose: streamed twice in a row (a retried stream) its first half would read as a loop.
    {"match": "R-PROSE", "calls": [" ".join(f"Step {i} adds {i} to the running total." for i in range(60))
                                   + " So $\\boxed{1770}$."]},
    # A clean answer: nothing to do.
    {"match": "R-CLEAN", "calls": ["Six sevens.\n```python\nprint(6 * 7)\n```\nSo $\\boxed{42}$."]},
    # For the user-turn fallback: the continuation is sent on its own.
    {"match": "R-FALLBACK", "calls": [{"text": "We add the numbers.\n", "repeat": LOOP_UNIT, "times": 3000},
                                      " Hence $\\boxed{12}$.",
                                      {"text": "We add the numbers.\n", "repeat": LOOP_UNIT, "times": 3000},
                                      " So $\\boxed{12}$."]},
    # Asked to continue in a user turn, the model starts its answer over.
    {"match": "R-RESTART", "calls": [{"text": "We add the numbers.\n", "repeat": LOOP_UNIT, "times": 3000},
                                     "We add the numbers.\nThen $\\boxed{12}$."]},
]


def write_script(path: Path) -> Path:
    path.write_text("\n".join(json.dumps(entry) for entry in SCRIPT) + "\n")
    return path


# Seven-character chunks split lines and words the way token streams do; the small delay makes a stopped stream
# visibly stop early on the server's side.
SERVER_ARGS = ("--stream-chunk-chars", "7", "--stream-delay", "0.0005", "--record-requests")


@pytest.fixture(scope="module")
def regen_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    script = write_script(tmp_path_factory.mktemp("regen") / "regen.jsonl")
    with scripted_server("--script", str(script), *SERVER_ARGS) as srv:
        yield srv


def recorded_requests(server: RunningServer, marker: str) -> list[dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/requests", timeout=10) as resp:
        bodies = json.loads(resp.read())
    return [b for b in bodies if marker in b["messages"][0]["content"]]


def ask(base_url: str, marker: str, policy: RegenerationPolicy | None = None, *, calls: int = 1,
        **request_options) -> tuple[list[ChatResponse], RegeneratingBackend]:
    async def go() -> list[ChatResponse]:
        backend = RegeneratingBackend(OpenAICompatibleBackend("m", base_url=base_url, max_retries=0), policy)
        try:
            out = []
            for _ in range(calls):
                request = ChatRequest(messages=[{"role": "user", "content": f"{marker}: solve it"}],
                                      **request_options)
                out.append(await backend.complete(request))
            return out, backend
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_loop_is_cut_and_resumed_with_adjusted_sampling(regen_server: RunningServer) -> None:
    started = time.monotonic()
    (response,), backend = ask(regen_server.base_url, "R-LOOP", temperature=0.0, seed=7)
    assert time.monotonic() - started < 5  # the 3000-copy loop was never read to its end
    assert response.text == LOOP_KEPT + " Hence $\\boxed{12}$."
    assert response.finish_reason == "stop"
    info = response.extra["regeneration"]
    assert info["regenerations"] == 1 and info["resume_mode"] == "continue" and info["gave_up"] is None
    (cut,) = info["cuts"]
    assert cut["reason"] == "repetition" and cut["action"] == "regenerate" and cut["round"] == 0
    assert cut["cut_at"] == len(LOOP_KEPT)  # the first copy is kept, the loop from the second copy is dropped
    assert cut["discarded"].startswith(" The sum is 12") and "4 copies" in cut["detail"]
    assert cut["discarded_chars"] >= 3 * len(LOOP_UNIT) - 1 and info["discarded_chars"] == cut["discarded_chars"]
    assert info["discarded_tokens_est"] == round(info["discarded_chars"] / 4)
    assert backend.continue_supported is True
    first, second = recorded_requests(regen_server, "R-LOOP")
    assert first["stream"] is True and "continue_final_message" not in first
    assert second["continue_final_message"] is True and second["add_generation_prompt"] is False
    assert second["messages"][-1] == {"role": "assistant", "content": LOOP_KEPT}
    assert (second["temperature"], second["frequency_penalty"], second["seed"]) == (0.3, 0.4, 7 + 1_000_003)
    assert [r["temperature"] for r in info["rounds"]] == [0.0, 0.3]
    for _ in range(50):  # the server notices the closed stream at its next write
        if regen_server.stats()["streams_cut"]:
            break
        time.sleep(0.05)
    assert regen_server.stats()["streams_cut"] >= 1


def test_broken_code_is_cut_back_to_the_last_valid_line(regen_server: RunningServer) -> None:
    (response,), _ = ask(regen_server.base_url, "R-CODE")
    assert response.text == CODE_KEPT + "print(x)\n```\n"
    info = response.extra["regeneration"]
    (cut,) = info["cuts"]
    assert (cut["reason"], cut["cut_at"], info["regenerations"]) == ("code_syntax", len(CODE_KEPT), 1)
    assert "unmatched ')'" in cut["detail"] and cut["discarded"].startswith("print(x))")
    assert cut["at"] == len(CODE_KEPT) + len("print(x))\n")  # seen as soon as the line was complete
    assert "never" not in response.text


def test_unfinished_block_at_the_fence_goes_back_to_the_last_complete_line(regen_server: RunningServer) -> None:
    (response,), _ = ask(regen_server.base_url, "R-UNFINISHED")
    assert response.text == "Here:\n```python\ny = 2\nprint(2 ** 10)\n```\n"
    (cut,) = response.extra["regeneration"]["cuts"]
    assert cut["reason"] == "code_syntax" and cut["cut_at"] == len("Here:\n```python\ny = 2\n")
    assert "block closed unfinished" in cut["detail"]


def test_invented_output_is_never_written(regen_server: RunningServer) -> None:
    policy = RegenerationPolicy(stop_after_code_block=True)
    (response,), _ = ask(regen_server.base_url, "R-OUTPUT", policy)
    assert response.text == "Let me compute.\n```python\nprint(6 * 7)\n```\n"
    assert response.finish_reason == "stop" and "41" not in response.text
    info = response.extra["regeneration"]
    assert info["regenerations"] == 0 and info["stopped"] == "code_end"
    assert info["cuts"][0]["action"] == "stop" and info["cuts"][0]["cut_at"] == len(response.text)
    # Without the option the same stream is left alone (program-of-thought wants the whole answer).
    (plain,), _ = ask(regen_server.base_url, "R-OUTPUT")
    assert plain.text.endswith("$\\boxed{41}$.") and plain.extra["regeneration"]["cuts"] == []


def test_character_loop_without_spaces(regen_server: RunningServer) -> None:
    (response,), _ = ask(regen_server.base_url, "R-DECIMAL")
    assert response.text == DECIMAL_KEPT + "It is $\\frac{1}{3}$, so $\\boxed{\\frac13}$."
    (cut,) = response.extra["regeneration"]["cuts"]
    assert cut["reason"] == "loop" and cut["cut_at"] == len(DECIMAL_KEPT) and "copies of '3'" in cut["detail"]


def test_gives_up_after_max_regenerations(regen_server: RunningServer) -> None:
    policy = RegenerationPolicy(max_regenerations=2)
    (response,), _ = ask(regen_server.base_url, "R-STUCK", policy, temperature=0.2)
    assert response.text == LOOP_KEPT and response.finish_reason == "length"
    info = response.extra["regeneration"]
    assert info["regenerations"] == 2 and info["gave_up"] == "repetition"
    assert [c["action"] for c in info["cuts"]] == ["regenerate", "regenerate", "give_up"]
    assert {c["cut_at"] for c in info["cuts"]} == {len(LOOP_KEPT)}
    bodies = recorded_requests(regen_server, "R-STUCK")
    assert [b["temperature"] for b in bodies] == [0.2, 0.5, 0.8]
    assert [b.get("frequency_penalty") for b in bodies] == [None, 0.4, 0.8]


def test_runaway_length_and_budget_stop_the_answer(regen_server: RunningServer) -> None:
    (runaway,), _ = ask(regen_server.base_url, "R-LONG", RegenerationPolicy(max_chars=300))
    info = runaway.extra["regeneration"]
    assert runaway.finish_reason == "length" and info["stopped"] == "runaway" and info["regenerations"] == 0
    assert 300 < len(runaway.text) < 320 and runaway.text.startswith("Step 0 rewrites")
    # max_tokens 60 with 20 kept in reserve: stop near 40 tokens (~160 characters) when no answer is in sight.
    (budget,), _ = ask(regen_server.base_url, "R-LONG", RegenerationPolicy(answer_reserve_tokens=20), max_tokens=60)
    assert budget.extra["regeneration"]["stopped"] == "budget" and budget.finish_reason == "length"
    assert 160 <= len(budget.text) < 175
    # An answer already written is never stopped by the budget.
    (clean,), _ = ask(regen_server.base_url, "R-CLEAN", RegenerationPolicy(answer_reserve_tokens=5), max_tokens=30)
    assert clean.extra["regeneration"]["stopped"] is None and clean.text.endswith("$\\boxed{42}$.")


def test_falls_back_to_a_user_turn_and_remembers(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.jsonl")
    with scripted_server("--script", str(script), "--reject-continue", *SERVER_ARGS) as srv:
        (first, second), backend = ask(srv.base_url, "R-FALLBACK", calls=2)
        bodies = recorded_requests(srv, "R-FALLBACK")
        (restarted,), _ = ask(srv.base_url, "R-RESTART", RegenerationPolicy(resume="user_turn"))
    assert first.text == LOOP_KEPT + " Hence $\\boxed{12}$." and second.text == LOOP_KEPT + " So $\\boxed{12}$."
    assert first.extra["regeneration"]["resume_mode"] == "user_turn" and backend.continue_supported is False
    # loop, rejected continuation, user-turn continuation; then loop, user-turn continuation (no second try).
    assert ["continue_final_message" in b for b in bodies] == [False, True, False, False, False]
    fallback = bodies[2]["messages"]
    assert restarted.text == "We add the numbers.\nThen $\\boxed{12}$."
    info = restarted.extra["regeneration"]
    assert [r["restarted"] for r in info["rounds"]] == [False, True]
    assert info["discarded_chars"] == info["cuts"][0]["discarded_chars"] + len(LOOP_KEPT)
    assert fallback[-2] == {"role": "assistant", "content": LOOP_KEPT}
    assert fallback[-1]["role"] == "user" and "Continue it from exactly where it stops" in fallback[-1]["content"]


def test_regenerated_responses_round_trip_through_the_cache(regen_server: RunningServer, memory_cache) -> None:
    cache = memory_cache
    seen: list[str] = []

    async def go() -> tuple[ChatResponse, ChatResponse, int]:
        raw = OpenAICompatibleBackend("m", base_url=regen_server.base_url)
        backend = CachedBackend(RegeneratingBackend(raw), cache)
        request = ChatRequest(messages=[{"role": "user", "content": "R-CACHE: solve it"}])
        try:
            first = await backend.complete(request, seen.append)
            second = await backend.complete(request)
            return first, second, backend.hits
        finally:
            await backend.aclose()

    first, second, hits = asyncio.run(go())
    assert hits == 1 and second.cached and second.extra == first.extra
    assert second.extra["regeneration"]["cuts"][0]["reason"] == "code_syntax"
    assert seen == [first.text]  # the caller's callback sees the final text once, never the cut-away part
    assert ChatResponse(**first.to_dict()) == first
    assert ChatResponse(**{k: v for k, v in first.to_dict().items() if k != "extra"}).extra == {}  # old caches


def test_cache_identity_includes_the_policy() -> None:
    raw = OpenAICompatibleBackend("m", base_url="http://127.0.0.1:9/v1")
    plain = RegeneratingBackend(raw).cache_identity()
    other = RegeneratingBackend(raw, RegenerationPolicy(max_regenerations=5)).cache_identity()
    assert plain["model"] == "m" and plain != other != raw.cache_identity()
    with pytest.raises(ConfigError):
        RegenerationPolicy(resume="telepathy")


def monitor(text: str, **policy: object) -> _StreamMonitor:
    watched = _StreamMonitor(RegenerationPolicy(**policy), "", None)
    for i in range(0, len(text), 5):
        if not watched.feed(text[i:i + 5]):
            return watched
    watched.finish()
    return watched


@pytest.mark.parametrize("text", [
    "```output\nx = = 1\n```\n```python\nx = 1\n```\n",  # an output block is not checked as code
    "```python\ndef f():\n    a = 1\n\n    return a\nprint(f())\n```\n",  # a blank line inside a function
    "```python\ns = '''\nnot code at all (\n'''\nprint(s)\n```\n",  # a multi-line string
    "We check 1, 2, 3 and 4.\nThen 5, 6, 7 and 8.\nThe answer is $\\boxed{8}$.",
])
def test_sound_text_is_left_alone(text: str) -> None:
    assert monitor(text).detection is None


def test_prefix_state_carries_over() -> None:
    # Resuming inside a code block: the kept lines are code, so a broken next line is still caught.
    watched = _StreamMonitor(RegenerationPolicy(), "```python\nx = 1\n", None)
    assert watched.detection is None
    watched.feed("x = = 2\n")
    assert watched.detection is not None and watched.detection.cut == len("```python\nx = 1\n")


# -- real token streams: a tiny randomly initialised model (built here, nothing downloaded) loops constantly -------

TINY_CORPUS = [
    "Compute the sum of the first ten positive integers. The sum is 55, so the answer is 55.",
    "Let x be a real number with x^2 = 4. Then x = 2 or x = -2, and the positive root is 2.",
    "A triangle has sides 3, 4 and 5. It is a right triangle, and its area is 6.",
    "Find the remainder when 100 is divided by 7. Since 98 = 14 * 7, the remainder is 2.",
    "```python\nprint(sum(range(11)))\n```\nThe program prints 55.",
] * 8
TINY_TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
                 "{% if add_generation_prompt %}<s>assistant\n{% endif %}")


def build_random_model(folder: Path) -> Path:
    """A byte-level BPE tokenizer trained on a few sentences and a randomly initialised two-layer Llama."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(TINY_CORPUS, trainer=trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    tokenizer.chat_template = TINY_TEMPLATE
    tokenizer.save_pretrained(folder)
    torch.manual_seed(1)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_regeneration_on_a_random_model_token_stream(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from mathgauge.models import create_backend

    model_dir = build_random_model(tmp_path / "tiny")
    policy = RegenerationPolicy(max_regenerations=3, penalty_field=None, ngram_words=4, ngram_repeats=3,
                                loop_min_chars=40, resume="continue")

    async def go() -> tuple[ChatResponse, int]:
        inner = create_backend("hf", str(model_dir), device="cpu", batch_size=1)
        backend = RegeneratingBackend(inner, policy)
        try:
            request = ChatRequest(messages=[{"role": "user", "content": "Compute 6 * 7."}], temperature=0.0,
                                  max_tokens=300, seed=0)
            response = await backend.complete(request)
            return response, len(inner.batch_sizes)
        finally:
            await backend.aclose()

    response, generations = asyncio.run(go())
    info = response.extra["regeneration"]
    actions = [cut["action"] for cut in info["cuts"]]
    assert info["cuts"], "a random model's greedy stream should degenerate"
    assert {cut["reason"] for cut in info["cuts"]} <= {"repetition", "loop", "code_syntax", "budget"}
    assert info["regenerations"] == actions.count("regenerate") and generations == info["regenerations"] + 1
    assert info["discarded_chars"] == sum(cut["discarded_chars"] for cut in info["cuts"])
    assert [r["temperature"] for r in info["rounds"]] == [min(1.2, 0.3 * i) for i in range(generations)]
    if info["gave_up"] is None and info["stopped"] is None:
        assert monitor(response.text, ngram_words=4, ngram_repeats=3, loop_min_chars=40).detection is None


def test_sampling_adjustments_respect_caps_and_neutral_values() -> None:
    raw = OpenAICompatibleBackend("m", base_url="http://127.0.0.1:9/v1")
    hot = ChatRequest(messages=[], temperature=1.5, extra_body={"top_k": 20})
    backend = RegeneratingBackend(raw, RegenerationPolicy(penalty_field="repetition_penalty", penalty_step=0.1,
                                                          max_penalty=1.3))
    adjusted = backend._adjusted(hot, 2, None)
    assert adjusted.temperature == 1.5  # a temperature above the cap is never lowered
    assert adjusted.extra_body == {"top_k": 20, "repetition_penalty": 1.2}  # from the neutral 1.0
    assert backend._adjusted(hot, 9, None).extra_body["repetition_penalty"] == 1.3
    unset = backend._adjusted(ChatRequest(messages=[], temperature=None), 1, None)
    assert unset.temperature is None and unset.seed is None


class ArithmeticRunner:
    """Stands in for the sandbox: 'runs' ``print(a * b)`` programs (the solver only needs ``arun``)."""

    def __init__(self) -> None:
        self.programs: list[str] = []

    async def arun(self, code: str, *, timeout: float | None = None, memory_mb: int | None = None):
        from mathgauge.sandbox import ExecutionResult

        self.programs.append(code)
        a, b = code.removeprefix("print(").removesuffix(")").split("*")
        return ExecutionResult(status="ok", stdout=f"{int(a) * int(b)}\n", stderr="", exit_code=0, duration_ms=1.0)


def test_tool_integrated_solving_runs_the_code_instead_of_the_invented_output(tmp_path: Path) -> None:
    from mathgauge.solve import SamplingConfig, ToolIntegratedSolver

    # The model writes a program and then, without any output fence, claims what it printed.
    script = tmp_path / "tir.jsonl"
    script.write_text(json.dumps({"match": "six times seven", "turns": [
        "Let me compute.\n```python\nprint(6 * 7)\n```\nRunning it prints 41, so the answer is $\\boxed{41}$.",
        "The program printed 42, so the answer is $\\boxed{42}$."]}) + "\n")

    async def solve(regenerate: bool) -> tuple[str | None, list[str]]:
        raw = OpenAICompatibleBackend("m", base_url=srv.base_url)
        backend = RegeneratingBackend(raw, RegenerationPolicy(stop_after_code_block=True)) if regenerate else raw
        runner = ArithmeticRunner()
        solver = ToolIntegratedSolver(backend, SamplingConfig(), runner, has_answer=lambda t: "\\boxed" in t)

        try:
            outcome = await solver.solve("p", 0, [{"role": "user", "content": "Compute six times seven."}])
        finally:
            await backend.aclose()
        assert outcome.answer is not None and outcome.answer.call_index == outcome.calls[-1].attempt_index
        return outcome.answer.text, runner.programs

    with scripted_server("--script", str(script), *SERVER_ARGS) as srv:
        plain_answer, plain_programs = asyncio.run(solve(regenerate=False))
        answer, programs = asyncio.run(solve(regenerate=True))
    assert plain_programs == [] and plain_answer.endswith("$\\boxed{41}$.")  # the invented output wins
    assert programs == ["print(6 * 7)"] and answer.endswith("$\\boxed{42}$.") and "41" not in answer


def test_a_stream_the_server_cut_off_is_read_again_from_its_start(tmp_path: Path) -> None:
    script = write_script(tmp_path / "regen.jsonl")
    prose_text = next(e["calls"][0] for e in SCRIPT if e["match"] == "R-PROSE")
    with scripted_server("--script", str(script), "--interrupt-stream-every", "2", *SERVER_ARGS) as srv:
        async def go() -> list[ChatResponse]:
            inner = OpenAICompatibleBackend("m", base_url=srv.base_url, backoff_base_s=0.01)
            backend = RegeneratingBackend(inner)
            try:
                return [await backend.complete(ChatRequest(messages=[{"role": "user", "content": marker}]))
                        for marker in ("R-CLEAN", "R-PROSE")]  # stream 1 whole; stream 2 cut, stream 3 whole
            finally:
                await backend.aclose()

        _, prose = asyncio.run(go())
        assert srv.stats()["streams_interrupted"] == 1
    # The monitor started over with the retried stream: the repeated first half was not taken for a loop.
    assert prose.text == prose_text and prose.finish_reason == "stop" and prose.retries == 1
    assert prose.extra["regeneration"]["cuts"] == []

"""In-process llama.cpp backend (llama-cpp-python): GGUF models on the CPU, no server, no key, no GPU.

``--backend llamacpp --model PATH.gguf`` or a bundled model alias (``smollm2-135m``, see `BUNDLED_MODELS`). The
chat template comes from the GGUF (``tokenizer.chat_template``) and is rendered here with Jinja, as Hugging Face
tokenizers render it; a request that continues a partial assistant message (``continue_final_message``, as
regeneration sends) is rendered open-ended, so generation resumes mid-message.

Several sequences at once: llama-cpp-python's high-level ``Llama`` cannot (its batch writes every token to
sequence 0 and it keeps a single token history, so concurrent requests would only take turns; its server runs one
request at a time for that reason), so this backend drives llama.cpp's batch API through llama-cpp-python's
low-level bindings: ``n_parallel`` sequences share one context and each decode step advances all of them (see
`LlamaCppEngine`); ``bench/llamacpp.py`` measures what that gains. The price is the one every batching server pays
(llama.cpp's own with several slots, vLLM): a sequence's logits differ in the last bits depending on which other
sequences share its steps, so greedy answers can differ from run to run. ``n_parallel=1`` decodes one sequence at
a time and repeats its answers exactly.

Options (``--backend-option KEY=VALUE``): ``n_ctx`` (context per sequence; default the model's, at most 4096;
2048 for ``smollm2-135m``), ``n_parallel`` (sequences decoded together, default 4), ``n_threads`` (default: the
CPUs this process may use but one), ``n_batch`` (tokens per decode step, default 512), ``flash_attn`` (true/false;
default: llama.cpp decides), ``chat_template`` (Jinja text or a file, for GGUFs without one).

Request fields beyond the OpenAI ones (``--extra-body``): ``top_k``, ``min_p``, ``repeat_penalty`` (or
``repetition_penalty``), ``frequency_penalty``, ``presence_penalty``. Without a seed, sampling at a temperature
above 0 is seeded at random; temperature 0 (or unset) is greedy.

Needs the ``local`` extra (``pip install 'mathgauge[local]'``: llama-cpp-python, compiled on install where PyPI has
no wheel for the machine).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._bundled import BUNDLED_MODELS, resolve_bundled
from ._gguf import gguf_fingerprint, read_gguf_metadata
from ._llamacpp_engine import EngineError, GenerationJob, LlamaCppEngine, SamplingSettings
from ._protocol import ChatRequest, ChatResponse, DeltaCallback, FatalEndpointError, ModelCallError, chat_request_body

#: Sampling fields a request may carry in ``extra_body`` -> the `SamplingSettings` field they set.
_SAMPLING_FIELDS = {"top_k": "top_k", "min_p": "min_p", "repeat_penalty": "repeat_penalty",
                    "repetition_penalty": "repeat_penalty", "frequency_penalty": "frequency_penalty",
                    "presence_penalty": "presence_penalty"}
#: Fields that say how to render the prompt (regeneration's continuation), not how to sample.
_RENDER_FIELDS = ("continue_final_message", "add_generation_prompt")
_DEFAULT_MAX_CTX = 4096


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ModuleNotFoundError:
        raise ConfigError("backend 'llamacpp' needs the package 'llama-cpp-python'; install it with: "
                          "pip install 'mathgauge[local]'") from None
    # llama.cpp reports every loaded tensor at INFO: keep its errors only, as llama-cpp-python's verbose=False does.
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    return llama_cpp


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"backend 'llamacpp': {name} must be a positive integer, got {value!r}")
    return value


def _default_threads() -> int:
    """All CPUs this process may use but one, which is left to mathgauge itself (the event loop, grading, the
    sandbox). llama.cpp's threads wait for each other at every layer by spinning, so when they must share their
    cores with other work, a step waits for whichever thread is descheduled: on 2 cores, 2 threads next to a
    running evaluation decoded 5-10 times slower than 1 thread."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus - 1)


class ChatTemplate:
    """A GGUF's (or a given) Jinja chat template, rendered the way Hugging Face tokenizers render theirs.

    Args:
        source: the template text.
        bos_token, eos_token: the texts of the model's special tokens, which templates write out.
    """

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "") -> None:
        from jinja2 import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise TemplateError(message)

        def tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
                   separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
            return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                              sort_keys=sort_keys)

        # The environment Hugging Face renders chat templates in: templates are written against it.
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=["jinja2.ext.loopcontrols"])
        env.filters["tojson"] = tojson  # Jinja's own escapes HTML characters, which a prompt must not get
        env.globals["raise_exception"] = raise_exception
        env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
        self._error = TemplateError
        self._template = env.from_string(source)
        self.bos_token, self.eos_token = bos_token, eos_token

    def render(self, messages: list[dict[str, str]], *, add_generation_prompt: bool) -> str:
        return self._template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                                     bos_token=self.bos_token, eos_token=self.eos_token)

    def prompt(self, messages: list[dict[str, str]], *, continue_final: bool) -> str:
        """The prompt for ``messages``; with ``continue_final`` and an assistant message last, the prompt ends
        inside that message, so generation continues it.

        Raises:
            ModelCallError: the template rejects the messages (e.g. roles out of order).
        """
        try:
            if not (continue_final and messages and messages[-1].get("role") == "assistant"):
                return self.render(messages, add_generation_prompt=True)
            partial = messages[-1].get("content") or ""
            whole = self.render(messages, add_generation_prompt=False)
            at = whole.rfind(partial) if partial else -1
            if at >= 0:
                return whole[:at + len(partial)]  # everything the template puts after the message is dropped
            # The template changed the text (stripped it, say): open an assistant turn and write it as it is.
            return self.render(messages[:-1], add_generation_prompt=True) + partial
        except self._error as exc:
            raise ModelCallError(f"the chat template rejected the messages: {exc}") from None


class LlamaCppBackend:
    """A GGUF model run in-process by llama.cpp, behind the async `ModelBackend` protocol.

    Args:
        model: a ``.gguf`` file or a bundled model alias (`BUNDLED_MODELS`).
        n_ctx: context length of each sequence (default: the bundled model's, else the model's training context,
            at most 4096).
        n_parallel: sequences decoded together (the most requests generated at once).
        n_threads: CPU threads (default: the CPUs this process may run on but one).
        n_batch: most tokens decoded in one step (prompt chunks and one token per generating sequence).
        chat_template: Jinja template text, or a file holding it, used instead of the GGUF's.
        flash_attn: llama.cpp's fused attention on or off; ``None`` lets llama.cpp decide (on for the CPU).
            Answers differ in the last bits between the two, so it is part of the cache key.

    Raises:
        ConfigError: llama-cpp-python missing, an unknown alias or its package missing, a file that is not
            GGUF, a model without a chat template, or a bad option; the message names the fix.
    """

    def __init__(self, model: str, *, n_ctx: int | None = None, n_parallel: int = 4, n_threads: int | None = None,
                 n_batch: int = 512, chat_template: str | None = None, flash_attn: bool | None = None) -> None:
        self.n_parallel = _positive("n_parallel", n_parallel)
        self.n_batch = _positive("n_batch", n_batch)
        self.n_threads = _positive("n_threads", n_threads) if n_threads is not None else _default_threads()
        if n_ctx is not None:
            _positive("n_ctx", n_ctx)
        if flash_attn is not None and not isinstance(flash_attn, bool):
            raise ConfigError(f"backend 'llamacpp': flash_attn must be true or false, got {flash_attn!r}")
        self.flash_attn = flash_attn
        if self.n_parallel > self.n_batch:
            raise ConfigError(f"backend 'llamacpp': n_batch ({n_batch}) must be at least n_parallel ({n_parallel})")
        default_ctx = None
        if model in BUNDLED_MODELS:
            bundled = resolve_bundled(model)
            default_ctx = BUNDLED_MODELS[model].n_ctx
            self.path, self._name = bundled.path, model
            # pip's RECORD digest identifies the file without reading it; a RECORD without one, by its contents.
            self.weights = (f"sha256:{bundled.sha256}" if bundled.sha256
                            else f"fingerprint:{gguf_fingerprint(bundled.path)}")
        else:
            self.path = Path(model).expanduser()
            if not self.path.is_file() and not model.endswith(".gguf"):
                raise ConfigError(f"backend 'llamacpp': --model {model!r} is neither a GGUF file nor a bundled model "
                                  f"alias ({', '.join(BUNDLED_MODELS)})")
            self._name = ""
            self.weights = ""
        self.metadata = read_gguf_metadata(self.path)
        if not self._name:
            self._name = str(self.metadata.get("general.name") or self.path.stem)
            self.weights = f"fingerprint:{gguf_fingerprint(self.path)}"
        self.template_source = self._template_source(chat_template)
        trained = self.metadata.get(f"{self.metadata.get('general.architecture')}.context_length")
        self.n_ctx = n_ctx or default_ctx or min(int(trained or _DEFAULT_MAX_CTX), _DEFAULT_MAX_CTX)
        self._llama = _import_llama_cpp()
        self.engine: LlamaCppEngine | None = None
        self.template: ChatTemplate | None = None
        self._load_lock: asyncio.Lock | None = None
        self._closed = False

    def _template_source(self, given: str | None) -> str:
        if given:
            if "{" not in given:
                try:
                    return Path(given).read_text(encoding="utf-8")
                except OSError as exc:
                    raise ConfigError(f"backend 'llamacpp': chat_template {given!r} is neither a template nor a "
                                      f"readable file ({exc.strerror})") from None
            return given
        source = self.metadata.get("tokenizer.chat_template")
        if not isinstance(source, str) or not source.strip():
            raise ConfigError(f"{self.path}: the GGUF has no chat template; pass one with "
                              f"--backend-option chat_template=FILE")
        return source

    # -- protocol ----------------------------------------------------------------------------------------------
    @property
    def model(self) -> str:
        """The alias, or the GGUF's ``general.name``: what runs are stored under, never a file path."""
        return self._name

    def cache_identity(self) -> dict[str, Any]:
        # The context length ends answers that run to it; batching and the attention kernel move logits in their
        # last bits, which can change a greedy answer: all three decide answers too.
        return {"backend": "llamacpp", "model": self._name, "weights": self.weights, "n_ctx": self.n_ctx,
                "n_parallel": self.n_parallel, "flash_attn": self.flash_attn}

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        return chat_request_body(self._name, request, backend="llamacpp")

    async def check(self) -> list[str]:
        await self._ensure_loaded()
        assert self.engine is not None
        return [f"backend llamacpp: {self._name} ({self.path.name}), {self.n_parallel} sequences of "
                f"{self.engine.n_ctx_seq} tokens decoded together on {self.n_threads} thread(s)"]

    async def complete(self, request: ChatRequest, on_delta: DeltaCallback | None = None) -> ChatResponse:
        if self._closed:
            raise ModelCallError("backend closed")
        await self._ensure_loaded()
        assert self.engine is not None and self.template is not None
        sampling = _sampling_settings(request)
        continues = bool(request.extra_body.get("continue_final_message"))
        prompt = self.template.prompt(request.messages, continue_final=continues)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple] = asyncio.Queue()

        def emit(event: tuple) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:  # the loop is gone (the run was interrupted): nobody is waiting for this job
                job.cancelled = True

        job = GenerationJob(prompt=prompt, max_tokens=request.max_tokens, sampling=sampling,
                            stops=[s for s in request.stop or [] if s], stream=on_delta is not None, emit=emit,
                            continues=continues and request.messages[-1].get("role") == "assistant")
        started = generating = time.monotonic()
        self.engine.submit(job)
        delivered: list[str] = []
        stopped_at: int | None = None
        try:
            while True:
                event = await events.get()
                if event[0] == "started":
                    # The time waiting for a free sequence is not generation time: with more requests in flight
                    # than sequences, counting it would sum the queue into "time in model calls".
                    generating = time.monotonic()
                elif event[0] == "delta":
                    if stopped_at is None and on_delta is not None:
                        delivered.append(event[1])
                        if on_delta(event[1]) is False:
                            stopped_at, job.cancelled = event[2], True
                elif event[0] == "done":
                    _, text, finish, prompt_tokens, completion_tokens = event
                    break
                else:
                    raise ModelCallError(f"llama.cpp: {event[1]}")
        except BaseException:
            job.cancelled = True
            raise
        if stopped_at is not None:
            # What the callback saw is the answer; tokens generated after it (one step at most) are not counted.
            text, finish, completion_tokens = "".join(delivered), "stopped_by_client", stopped_at
        ended = time.monotonic()
        return ChatResponse(text=text, finish_reason=finish, prompt_tokens=prompt_tokens,
                            completion_tokens=completion_tokens, latency_s=ended - generating,
                            total_s=ended - started)

    async def aclose(self) -> None:
        self._closed = True
        engine, self.engine = self.engine, None
        if engine is not None:
            await asyncio.get_running_loop().run_in_executor(None, engine.close)

    # -- loading -----------------------------------------------------------------------------------------------
    async def _ensure_loaded(self) -> None:
        if self.engine is not None:
            return
        if self._load_lock is None:
            self._load_lock = asyncio.Lock()
        async with self._load_lock:
            if self.engine is None:
                self.engine = await asyncio.get_running_loop().run_in_executor(None, self._load)

    def _load(self) -> LlamaCppEngine:
        ll = self._llama
        _init_backend(ll)
        try:
            engine = LlamaCppEngine(ll, str(self.path), n_ctx=self.n_ctx, n_parallel=self.n_parallel,
                                    n_threads=self.n_threads, n_batch=self.n_batch, flash_attn=self.flash_attn)
        except EngineError as exc:
            raise FatalEndpointError(f"backend llamacpp: {exc}") from None
        template = ChatTemplate(self.template_source, bos_token=engine.bos_text, eos_token=engine.eos_text)
        try:
            template.prompt([{"role": "user", "content": "1+1?"}], continue_final=False)
        except ModelCallError as exc:
            engine.close()
            raise FatalEndpointError(f"backend llamacpp: {self.path}: {exc.reason}") from None
        except Exception as exc:  # a template that does not even render a question
            engine.close()
            raise FatalEndpointError(f"backend llamacpp: the chat template of {self.path} cannot be rendered "
                                     f"({type(exc).__name__}: {exc})") from None
        self.template = template
        return engine


_backend_ready = False


def _init_backend(ll: Any) -> None:
    """llama.cpp's process-wide set-up, once."""
    global _backend_ready
    if not _backend_ready:
        ll.llama_backend_init()
        _backend_ready = True


def _sampling_settings(request: ChatRequest) -> SamplingSettings:
    """The request's sampling settings; a field this backend does not know fails the call, naming it."""
    values: dict[str, Any] = {}
    for key, value in request.extra_body.items():
        if key in _RENDER_FIELDS:
            continue
        if key not in _SAMPLING_FIELDS:
            known = ", ".join(sorted(_SAMPLING_FIELDS))
            raise ModelCallError(f"backend llamacpp does not take the request field {key!r} (it takes {known})")
        if value is not None:
            values[_SAMPLING_FIELDS[key]] = int(value) if key == "top_k" else float(value)
    return SamplingSettings(temperature=float(request.temperature or 0.0), top_p=request.top_p, seed=request.seed,
                            **values)

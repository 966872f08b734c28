"""In-process Hugging Face transformers backend: chat template, batched generation, streaming.

Concurrent `complete` calls are collected into batches (up to ``batch_size``, requests with the same sampling
settings together) and generated with left padding in one ``model.generate`` call on a worker thread, so the event
loop stays free. ``on_delta`` callbacks receive the text as it is generated (decoded per row, on the event loop);
a callback returning ``False`` stops that row early (``finish_reason="stopped_by_client"``).

Needs the ``hf`` extra (``pip install 'mathgauge[hf]'``: torch and transformers); torch is imported only when this
backend is created.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._protocol import ChatRequest, ChatResponse, DeltaCallback, FatalEndpointError, ModelCallError, chat_request_body

_DTYPES = ("auto", "float32", "float16", "bfloat16")


def _import_torch_transformers() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"backend 'hf' needs the package {exc.name!r}; install it with: pip install 'mathgauge[hf]'"
        ) from None
    return torch, transformers


@dataclass
class _Pending:
    request: ChatRequest
    future: asyncio.Future
    on_delta: DeltaCallback | None
    loop: asyncio.AbstractEventLoop
    enqueued: float = field(default_factory=time.monotonic)


class HFBackend:
    """A local transformers causal LM behind the async `ModelBackend` protocol.

    Args:
        model: a local folder or hub id (loaded with ``from_pretrained``; offline use needs a local folder).
        dtype: ``auto`` (the checkpoint's dtype on GPU, float32 on CPU), ``float32``, ``float16``, ``bfloat16``.
        device: ``cpu``, ``cuda``, ``cuda:1``, ...; ``None`` picks ``cuda`` when available, else ``cpu``.
        batch_size: most requests generated together.
        batch_wait_s: how long the first request of a batch waits for others to join it.
        max_new_tokens: cap for requests without ``max_tokens`` (default: the model's remaining context).
        chat_template: a Jinja chat template (text, or a path to a file) for tokenizers that have none.
        trust_remote_code: passed to ``from_pretrained``.
    """

    def __init__(
        self,
        model: str,
        *,
        dtype: str = "auto",
        device: str | None = None,
        batch_size: int = 8,
        batch_wait_s: float = 0.02,
        max_new_tokens: int | None = None,
        chat_template: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        if dtype not in _DTYPES:
            raise ConfigError(f"backend 'hf': dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"backend 'hf': batch_size must be a positive integer, got {batch_size!r}")
        if max_new_tokens is not None and (not isinstance(max_new_tokens, int) or max_new_tokens < 1):
            raise ConfigError(f"backend 'hf': max_new_tokens must be a positive integer, got {max_new_tokens!r}")
        self._torch, self._transformers = _import_torch_transformers()
        self._model_name = model
        self.dtype = dtype
        self.device = device or ("cuda" if self._torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        self.batch_wait_s = float(batch_wait_s)
        self.max_new_tokens = max_new_tokens
        self.chat_template = chat_template
        self.trust_remote_code = bool(trust_remote_code)
        self.tokenizer: Any = None
        self.lm: Any = None
        self.context_length: int | None = None
        #: Generation calls made and the size of each batch (for tests and diagnostics).
        self.batch_sizes: list[int] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mathgauge-hf")
        self._load_lock: asyncio.Lock | None = None
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task | None = None
        self._closed = False

    # -- protocol ----------------------------------------------------------------------------------------------
    @property
    def model(self) -> str:
        return self._model_name

    def cache_identity(self) -> dict[str, Any]:
        return {"backend": "hf", "model": self._model_name, "dtype": self.dtype}

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        return chat_request_body(self._model_name, request, backend="hf", dtype=self.dtype)

    async def check(self) -> list[str]:
        await self._ensure_loaded()
        notes = []
        if self.device == "cpu":
            notes.append(f"backend hf: running {self._model_name} on CPU (slow for real models)")
        return notes

    async def complete(self, request: ChatRequest, on_delta: DeltaCallback | None = None) -> ChatResponse:
        if self._closed:
            raise ModelCallError("backend closed")
        await self._ensure_loaded()
        loop = asyncio.get_running_loop()
        assert self._queue is not None
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._batch_loop())
        future: asyncio.Future = loop.create_future()
        await self._queue.put(_Pending(request, future, on_delta, loop))
        return await future

    async def aclose(self) -> None:
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass
        self._executor.shutdown(wait=True)
        self.lm = None
        if self.device.startswith("cuda"):
            try:
                self._torch.cuda.empty_cache()
            except Exception:  # pragma: no cover - best effort
                pass

    # -- loading -----------------------------------------------------------------------------------------------
    async def _ensure_loaded(self) -> None:
        if self.lm is not None:
            return
        if self._load_lock is None:
            self._load_lock = asyncio.Lock()
        async with self._load_lock:
            if self.lm is not None:
                return
            await asyncio.get_running_loop().run_in_executor(self._executor, self._load)
            self._queue = asyncio.Queue()

    def _load(self) -> None:
        torch, tf = self._torch, self._transformers
        try:
            tf.utils.logging.disable_progress_bar()  # no "Loading weights" bars over the run's own progress
        except AttributeError:  # pragma: no cover - older transformers
            pass
        try:
            tokenizer = tf.AutoTokenizer.from_pretrained(self._model_name, trust_remote_code=self.trust_remote_code)
        except Exception as exc:  # OSError, ValueError, hub errors: all mean "cannot load this model"
            raise FatalEndpointError(f"backend hf: cannot load the tokenizer of {self._model_name!r} "
                                     f"({type(exc).__name__}: {_first_line(exc)})") from None
        if self.chat_template:
            template = self.chat_template
            if "{" not in template and Path(template).is_file():
                template = Path(template).read_text(encoding="utf-8")
            tokenizer.chat_template = template
        if not getattr(tokenizer, "chat_template", None):
            raise FatalEndpointError(f"backend hf: the tokenizer of {self._model_name!r} has no chat template; "
                                     f"pass --backend-option chat_template=FILE")
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token_id is None:
                raise FatalEndpointError(f"backend hf: the tokenizer of {self._model_name!r} has neither a pad "
                                         f"nor an end-of-sequence token")
            tokenizer.pad_token = tokenizer.eos_token
        if self.dtype == "auto":
            dtype: Any = "auto" if self.device != "cpu" else torch.float32
        else:
            dtype = getattr(torch, self.dtype)
        try:
            lm = tf.AutoModelForCausalLM.from_pretrained(self._model_name, dtype=dtype,
                                                         trust_remote_code=self.trust_remote_code)
            lm.to(self.device)
        except Exception as exc:
            raise FatalEndpointError(f"backend hf: cannot load {self._model_name!r} on {self.device} "
                                     f"({type(exc).__name__}: {_first_line(exc)})") from None
        lm.eval()
        self.tokenizer = tokenizer
        self.lm = lm
        config = lm.config
        self.context_length = getattr(config, "max_position_embeddings", None) or getattr(
            tokenizer, "model_max_length", None)
        if self.context_length and self.context_length > 10_000_000:
            self.context_length = None
        self._eos_ids = _eos_ids(lm, tokenizer)

    # -- batching ----------------------------------------------------------------------------------------------
    async def _batch_loop(self) -> None:
        assert self._queue is not None
        waiting: list[_Pending] = []
        loop = asyncio.get_running_loop()
        while True:
            if not waiting:
                waiting.append(await self._queue.get())
            deadline = loop.time() + self.batch_wait_s
            while len(waiting) < self.batch_size * 4:
                timeout = deadline - loop.time()
                try:
                    if timeout <= 0:
                        waiting.append(self._queue.get_nowait())
                    else:
                        waiting.append(await asyncio.wait_for(self._queue.get(), timeout))
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
            key = _sampling_key(waiting[0].request)
            batch = [p for p in waiting if _sampling_key(p.request) == key][: self.batch_size]
            waiting = [p for p in waiting if p not in batch]
            batch = [p for p in batch if not p.future.cancelled()]
            if not batch:
                continue
            self.batch_sizes.append(len(batch))
            try:
                results = await loop.run_in_executor(self._executor, self._generate, batch)
            except Exception as exc:  # one bad batch fails its requests, not the backend
                reason = f"generation failed: {type(exc).__name__}: {_first_line(exc)}"
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(ModelCallError(reason))
                continue
            for p, result in zip(batch, results):
                if not p.future.done():
                    p.future.set_result(result)

    def _generate(self, batch: list[_Pending]) -> list[ChatResponse]:
        torch, tf = self._torch, self._transformers
        started = time.monotonic()
        tok = self.tokenizer
        texts = [_render_prompt(tok, p.request) for p in batch]
        # The template already holds any BOS token; don't add special tokens a second time.
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        prompt_len = enc["input_ids"].shape[1]
        prompt_tokens = enc["attention_mask"].sum(dim=1).tolist()
        request = batch[0].request
        max_new = request.max_tokens or self.max_new_tokens
        if max_new is None:
            max_new = (self.context_length - prompt_len) if self.context_length else 2048
        if max_new < 1:
            raise ModelCallError(f"prompt of {prompt_len} tokens leaves no room in the model's context "
                                 f"of {self.context_length}")
        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "pad_token_id": tok.pad_token_id,
                                  "eos_token_id": self._eos_ids or None}
        if request.temperature and request.temperature > 0:
            kwargs.update(do_sample=True, temperature=float(request.temperature),
                          top_p=float(request.top_p) if request.top_p is not None else 1.0, top_k=0)
            if request.seed is not None:
                torch.manual_seed(int(request.seed))
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        penalty = _repetition_penalty(request)
        if penalty is not None:
            kwargs["repetition_penalty"] = penalty
        rows = _RowState.for_batch(batch, tok, request.stop or [], set(self._eos_ids))
        streamer = _BatchStreamer(rows)
        stopping = tf.StoppingCriteriaList([_RowStopper(rows, torch)])
        with torch.inference_mode():
            out = self.lm.generate(**enc, streamer=streamer, stopping_criteria=stopping, **kwargs)
        elapsed = time.monotonic() - started
        results = []
        eos = set(self._eos_ids)
        ends = eos | {tok.pad_token_id}  # rows stopped early are padded after their last token
        for i, row in enumerate(rows):
            ids = out[i, prompt_len:].tolist()
            cut = next((j for j, t in enumerate(ids) if t in ends), None)
            hit_eos = cut is not None and ids[cut] in eos and not row.client_stopped
            ids = ids[:cut] if cut is not None else ids
            text = tok.decode(ids, skip_special_tokens=True)
            stop_at = _first_stop(text, request.stop or [])
            if row.client_stopped:
                finish = "stopped_by_client"
            elif stop_at is not None:
                text, finish = text[:stop_at], "stop"
            elif hit_eos or len(ids) < max_new:
                finish = "stop"
            else:
                finish = "length"
            row.flush(text)
            results.append(ChatResponse(text=text, finish_reason=finish, prompt_tokens=int(prompt_tokens[i]),
                                        completion_tokens=len(ids), latency_s=elapsed, total_s=elapsed))
        return results


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"


def _render_prompt(tok: Any, request: ChatRequest) -> str:
    """The chat template applied to the request; a request that continues a partial assistant message (token-by-
    token regeneration resuming from a kept prefix) is rendered open-ended, so generation picks up mid-message."""
    if request.extra_body.get("continue_final_message") and request.messages[-1].get("role") == "assistant":
        try:
            return tok.apply_chat_template(request.messages, add_generation_prompt=False,
                                           continue_final_message=True, tokenize=False)
        except (TypeError, ValueError):  # an older transformers, or a template that cannot continue
            pass
    return tok.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)


def _sampling_key(request: ChatRequest) -> tuple:
    temperature = request.temperature if request.temperature else 0.0
    seed = request.seed if temperature > 0 else None
    return (temperature, request.top_p if temperature > 0 else None, request.max_tokens,
            tuple(request.stop or ()), seed, _repetition_penalty(request))


def _repetition_penalty(request: ChatRequest) -> float | None:
    """transformers' multiplicative repetition penalty, from ``repetition_penalty`` or (regeneration's usual
    knob) an OpenAI-style ``frequency_penalty`` mapped onto it."""
    extra = request.extra_body
    if extra.get("repetition_penalty") is not None:
        return float(extra["repetition_penalty"])
    if extra.get("frequency_penalty"):
        return 1.0 + float(extra["frequency_penalty"]) / 2
    return None


def _eos_ids(lm: Any, tokenizer: Any) -> list[int]:
    ids: list[int] = []
    configured = getattr(getattr(lm, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.append(value)
        elif isinstance(value, (list, tuple)):
            ids.extend(int(v) for v in value)
    return sorted(set(ids))


def _first_stop(text: str, stops: list[str]) -> int | None:
    positions = [text.find(s) for s in stops if s and s in text]
    return min(positions) if positions else None


class _RowState:
    """Per-row streaming state: the tokens so far, the text already sent, and whether to stop."""

    def __init__(self, pending: _Pending, tokenizer: Any, stops: list[str], eos: set[int]) -> None:
        self.pending = pending
        self.tokenizer = tokenizer
        self.stops = stops
        self.eos = eos
        self.ids: list[int] = []
        self.sent = ""
        # Text of ids[:start], fixed at the last newline, so each step decodes only the current line.
        self.start = 0
        self.committed = ""
        self.finished = False
        self.client_stopped = False
        self._lock = threading.Lock()

    @classmethod
    def for_batch(cls, batch: list[_Pending], tokenizer: Any, stops: list[str], eos: set[int]) -> list[_RowState]:
        return [cls(p, tokenizer, stops, eos) for p in batch]

    @property
    def wants_text(self) -> bool:
        return self.pending.on_delta is not None or bool(self.stops)

    def add(self, token: int) -> None:
        if self.finished:
            return
        if token in self.eos:
            self.finished = True
            return
        self.ids.append(token)
        if not self.wants_text:
            return
        chunk = self.tokenizer.decode(self.ids[self.start:], skip_special_tokens=True)
        text = self.committed + chunk
        if chunk.endswith("\n"):
            self.committed, self.start = text, len(self.ids)
        if self.stops and _first_stop(text, self.stops) is not None:
            self.finished = True
            return
        if text.endswith("\ufffd"):  # a multi-byte character not complete yet
            return
        self._send(text)

    def flush(self, final: str) -> None:
        """Send whatever of the final text was not streamed yet."""
        if self.pending.on_delta is not None and not self.client_stopped:
            self._send(final)

    def _send(self, text: str) -> None:
        if self.pending.on_delta is None or not text.startswith(self.sent) or len(text) == len(self.sent):
            return
        delta, self.sent = text[len(self.sent):], text
        self.pending.loop.call_soon_threadsafe(self._deliver, delta)

    def _deliver(self, delta: str) -> None:
        callback: Callable[[str], Any] | None = self.pending.on_delta
        if callback is None or self.client_stopped:
            return
        try:
            keep_going = callback(delta)
        except Exception:  # a failing callback stops its row, never the batch
            keep_going = False
        if keep_going is False:
            self.client_stopped = True


class _BatchStreamer:
    """Receives each generation step's tokens (one per row) from ``generate``; the first call is the prompt."""

    def __init__(self, rows: list[_RowState]) -> None:
        self.rows = rows
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        tokens = value.reshape(-1).tolist()
        for row, token in zip(self.rows, tokens):
            row.add(int(token))

    def end(self) -> None:
        pass


class _RowStopper:
    """Stopping criterion per row: a stop string was generated, or the row's stream callback asked to stop."""

    def __init__(self, rows: list[_RowState], torch: Any) -> None:
        self.rows = rows
        self.torch = torch

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        done = [row.client_stopped or (row.finished and bool(row.stops)) for row in self.rows]
        return self.torch.tensor(done, dtype=self.torch.bool, device=input_ids.device)

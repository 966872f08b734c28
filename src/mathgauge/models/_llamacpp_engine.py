"""The generation loop of the ``llamacpp`` backend: several sequences decoded together in one llama.cpp context.

llama-cpp-python's high-level ``Llama`` class decodes one sequence at a time: its batch writes every token to
sequence 0 and it keeps one token history, so two requests can only take turns. llama.cpp itself batches several
sequences (its server's "slots"): each token in a ``llama_batch`` names its sequence, the KV cache keeps one
stream per sequence, and one ``llama_decode`` advances all of them, so each weight matrix is read once per step
for every sequence instead of once per sequence. This engine drives those low-level bindings (``llama_cpp``'s
ctypes functions, which llama-cpp-python publishes as its low-level API) directly.

All llama.cpp calls happen on the engine's own thread; requests arrive through a queue and results leave through
each job's ``emit`` callback, so the event loop never waits on a decode. Each step puts one token of every
sequence that is generating into the batch, then fills what room is left with prompt tokens of sequences being
admitted (long prompts take several steps, so generating sequences never stall for a whole prompt).

A sequence whose request ends keeps its tokens in the KV cache; the next request goes to the free sequence that
shares the longest prefix with its prompt and only the rest is decoded. Regeneration's continuations (the same
prompt plus the kept part of the answer) and prompts with the same system message and template start that way.
"""

from __future__ import annotations

import codecs
import ctypes
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: The last tokens a repetition/frequency/presence penalty looks back over (llama.cpp's default).
PENALTY_LAST_N = 64


@dataclass(frozen=True)
class SamplingSettings:
    """How a job picks its tokens; ``temperature <= 0`` is greedy decoding."""

    temperature: float = 0.0
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None

    @property
    def penalised(self) -> bool:
        return self.repeat_penalty != 1.0 or self.frequency_penalty != 0.0 or self.presence_penalty != 0.0


@dataclass(eq=False)
class GenerationJob:
    """One request for the engine.

    Args:
        prompt: the rendered prompt text (special tokens written out, as the chat template leaves them).
        max_tokens: most tokens to generate (the sequence's context may end it sooner).
        sampling: sampling settings.
        stops: strings that end the answer (not included in it).
        stream: send ``("delta", text, tokens_so_far)`` events while generating.
        emit: called on the engine thread with each event: ``("started",)`` when a sequence takes the job,
            deltas, then ``("done", text, finish_reason, prompt_tokens, completion_tokens)`` or
            ``("error", message)``.
        continues: the prompt ends inside the answer (a partial assistant message): its last tokens count for
            the penalties as if generated.
    """

    prompt: str
    max_tokens: int | None
    sampling: SamplingSettings
    stops: list[str]
    stream: bool
    emit: Callable[[tuple], None]
    continues: bool = False
    #: Set from any thread to stop the job; the engine ends it with ``stopped_by_client`` at its next step.
    cancelled: bool = False


@dataclass(eq=False)
class _Slot:
    """One sequence of the context: the tokens its KV cache holds, and the job it is running, if any."""

    seq_id: int
    cached: list[int] = field(default_factory=list)
    job: GenerationJob | None = None
    prompt_len: int = 0
    pending: list[int] = field(default_factory=list)  # prompt tokens not decoded yet
    next_token: int | None = None  # sampled, to be decoded at the next step
    generated: int = 0
    sampler: Any = None
    decoder: Any = None
    text: str = ""
    sent: int = 0  # characters of ``text`` already streamed
    batch_index: int = -1  # where this slot's logits are in the current batch (-1: none)

    def room(self, n_ctx_seq: int) -> int:
        """Tokens the job may still generate."""
        job = self.job
        assert job is not None
        left = n_ctx_seq - self.prompt_len - self.generated
        return left if job.max_tokens is None else min(left, job.max_tokens - self.generated)


class EngineError(Exception):
    """The model or its context could not be set up (the message says why)."""


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _stop_holdback(text: str, stops: list[str]) -> int:
    """Characters at the end of ``text`` that may be the start of a stop string, so must not be streamed yet."""
    hold = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:size]):
                hold = size
                break
    return hold


class LlamaCppEngine:
    """A llama.cpp model and context with ``n_parallel`` sequences, decoded together on a dedicated thread.

    Args:
        llama: the ``llama_cpp`` module (its low-level bindings).
        model_path: the GGUF file.
        n_ctx: context length of each sequence.
        n_parallel: sequences decoded together.
        n_threads: CPU threads for decoding.
        n_batch: most tokens in one decode step (prompt chunks and generated tokens together).
        flash_attn: use llama.cpp's fused attention; ``None`` lets llama.cpp decide (on where supported).

    Raises:
        EngineError: the model cannot be loaded or the context cannot be created.
    """

    def __init__(self, llama: Any, model_path: str, *, n_ctx: int, n_parallel: int, n_threads: int,
                 n_batch: int, flash_attn: bool | None = None) -> None:
        self._ll = llama
        ll = llama
        model_params = ll.llama_model_default_params()
        self._model = ll.llama_model_load_from_file(model_path.encode(), model_params)
        if not self._model:
            raise EngineError(f"llama.cpp cannot load {model_path} (not a model file it supports)")
        self._vocab = ll.llama_model_get_vocab(self._model)
        self.n_vocab = ll.llama_vocab_n_tokens(self._vocab)
        self.n_ctx_train = ll.llama_model_n_ctx_train(self._model)
        params = ll.llama_context_default_params()
        params.n_ctx = n_ctx * n_parallel
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = n_parallel
        params.n_threads = params.n_threads_batch = n_threads
        if flash_attn is not None:
            params.flash_attn_type = (ll.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                                      else ll.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        params.kv_unified = False  # one KV stream per sequence: each gets the whole n_ctx, attention stays local
        params.no_perf = True
        self._ctx = ll.llama_init_from_model(self._model, params)
        if not self._ctx:
            ll.llama_model_free(self._model)
            raise EngineError(f"llama.cpp cannot create a context of {n_parallel} x {n_ctx} tokens "
                              f"(out of memory?); lower n_ctx or n_parallel")
        self.n_ctx_seq = int(ll.llama_n_ctx_seq(self._ctx))
        self._memory = ll.llama_get_memory(self._ctx)
        self.n_batch = n_batch
        self._batch = ll.llama_batch_init(n_batch, 0, 1)
        self._piece = ctypes.create_string_buffer(256)
        self.bos_text = self._token_text(ll.llama_vocab_bos(self._vocab))
        self.eos_text = self._token_text(ll.llama_vocab_eos(self._vocab))
        self.adds_bos = bool(ll.llama_vocab_get_add_bos(self._vocab))
        self._slots = [_Slot(seq_id=i) for i in range(n_parallel)]
        self._inbox: queue.SimpleQueue[GenerationJob | None] = queue.SimpleQueue()
        self._waiting: list[GenerationJob] = []
        self._closing = False
        #: Why the engine thread stopped taking jobs (closed, or an unexpected error); set under ``_state``.
        self._stopped: str | None = None
        self._state = threading.Lock()
        #: Tokens decoded per step (for tests and diagnostics): how many sequences shared each step.
        self.steps = 0
        self.max_sequences_in_step = 0
        self._thread = threading.Thread(target=self._run, name="mathgauge-llamacpp", daemon=True)
        self._thread.start()

    # -- the caller's side (any thread) ------------------------------------------------------------------------
    def submit(self, job: GenerationJob) -> None:
        """Queue ``job``; its events arrive through ``job.emit``."""
        with self._state:  # never queued after the thread has stopped reading the queue
            if self._stopped is None:
                self._inbox.put(job)
                return
        job.emit(("error", self._stopped))

    def close(self) -> None:
        """Stop the thread (jobs still running end with an error) and free the context and the model."""
        if self._closing:
            return
        self._closing = True
        self._inbox.put(None)
        self._thread.join()
        # llama.cpp's resources are freed here, on the caller's thread, once the engine thread is gone.
        ll = self._ll
        for slot in self._slots:
            self._free_sampler(slot)
        ll.llama_batch_free(self._batch)
        ll.llama_free(self._ctx)
        ll.llama_model_free(self._model)

    # -- the engine thread -------------------------------------------------------------------------------------
    def _run(self) -> None:
        reason = "backend closed"
        try:
            while not self._closing:
                busy = any(slot.job is not None for slot in self._slots)
                if not self._take_inbox(block=not busy and not self._waiting):
                    break
                self._admit()
                self._end_cancelled()
                if any(slot.job is not None for slot in self._slots):
                    self._step()
        except Exception as exc:  # a bug must fail the requests, never leave them waiting for a dead thread
            reason = f"the llama.cpp engine stopped: {type(exc).__name__}: {exc}"
        finally:
            with self._state:
                self._stopped = reason
            for slot in self._slots:
                if slot.job is not None:
                    self._fail(slot, reason)
            for job in self._waiting:
                job.emit(("error", reason))
            self._waiting.clear()
            while True:  # jobs queued before the thread stopped
                try:
                    queued = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if queued is not None:
                    queued.emit(("error", reason))

    def _take_inbox(self, *, block: bool) -> bool:
        """Move queued jobs to the waiting list; ``False`` when told to close."""
        try:
            item = self._inbox.get() if block else self._inbox.get_nowait()
        except queue.Empty:
            return True
        while True:
            if item is None:
                return False
            self._waiting.append(item)
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return True

    def _admit(self) -> None:
        """Start waiting jobs on free sequences, each on the one whose cached tokens share most of its prompt."""
        while self._waiting:
            free = [slot for slot in self._slots if slot.job is None]
            if not free:
                return
            job = self._waiting.pop(0)
            if job.cancelled:
                job.emit(("done", "", "stopped_by_client", 0, 0))
                continue
            tokens = self._tokenize(job.prompt)
            if len(tokens) >= self.n_ctx_seq:
                job.emit(("error", f"the prompt of {len(tokens)} tokens leaves no room in the context of "
                                   f"{self.n_ctx_seq} tokens per sequence (raise it: --backend-option n_ctx=N)"))
                continue
            slot = max(free, key=lambda s: _common_prefix(s.cached, tokens))
            keep = _common_prefix(slot.cached, tokens)
            keep = min(keep, len(tokens) - 1)  # at least one prompt token is decoded, for its logits
            if keep < len(slot.cached) and not self._ll.llama_memory_seq_rm(self._memory, slot.seq_id, keep, -1):
                # This memory (a recurrent model's state) cannot drop a tail: start the sequence afresh.
                self._ll.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)
                keep = 0
            slot.cached = tokens[:keep]
            slot.pending = tokens[keep:]
            slot.job, slot.prompt_len = job, len(tokens)
            slot.next_token, slot.generated, slot.text, slot.sent = None, 0, "", 0
            slot.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            slot.sampler = self._new_sampler(job.sampling, tokens if job.continues else [])
            job.emit(("started",))

    def _end_cancelled(self) -> None:
        for slot in self._slots:
            if slot.job is not None and slot.job.cancelled:
                self._finish(slot, "stopped_by_client")

    def _step(self) -> None:
        """One decode: a token of each generating sequence, then prompt chunks of those still reading theirs."""
        ll, batch = self._ll, self._batch
        n = 0
        in_step = []
        for slot in self._slots:
            slot.batch_index = -1
            if slot.job is not None and not slot.pending and slot.next_token is not None:
                self._put(n, slot.next_token, len(slot.cached), slot.seq_id, True)
                slot.cached.append(slot.next_token)
                slot.batch_index = n
                n += 1
                in_step.append(slot)
        for slot in self._slots:
            if slot.job is None or not slot.pending or n >= self.n_batch:
                continue
            chunk = slot.pending[:self.n_batch - n]
            for i, token in enumerate(chunk):
                last = i == len(chunk) - 1 and len(chunk) == len(slot.pending)
                self._put(n, token, len(slot.cached) + i, slot.seq_id, last)
                if last:
                    slot.batch_index = n
                n += 1
            slot.cached.extend(chunk)
            slot.pending = slot.pending[len(chunk):]
            in_step.append(slot)
        batch.n_tokens = n
        status = ll.llama_decode(self._ctx, batch)
        self.steps += 1
        self.max_sequences_in_step = max(self.max_sequences_in_step, len(in_step))
        if status != 0:
            # 1: no room in the KV cache; < 0: the decode failed. Either way these sequences' states are unknown.
            for slot in in_step:
                self._ll.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)
                slot.cached = []
                self._fail(slot, f"llama_decode failed with status {status}")
            return
        for slot in in_step:
            if slot.batch_index >= 0 and slot.job is not None:
                token = ll.llama_sampler_sample(slot.sampler, self._ctx, slot.batch_index)
                self._take(slot, int(token))

    def _put(self, i: int, token: int, pos: int, seq_id: int, logits: bool) -> None:
        batch = self._batch
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq_id
        batch.logits[i] = logits

    def _take(self, slot: _Slot, token: int) -> None:
        """A sampled token: end of generation, or more text (checked for stop strings, streamed)."""
        job = slot.job
        assert job is not None
        if self._ll.llama_vocab_is_eog(self._vocab, token):
            self._finish(slot, "stop")
            return
        slot.generated += 1
        before = len(slot.text)
        slot.text += slot.decoder.decode(self._token_bytes(token))
        if job.stops:
            window = max(0, before - max(len(s) for s in job.stops) + 1)
            found = [at for at in (slot.text.find(s, window) for s in job.stops if s) if at >= 0]
            if found:
                slot.text = slot.text[:min(found)]
                self._finish(slot, "stop")
                return
        if slot.room(self.n_ctx_seq) <= 0:
            self._finish(slot, "length")
            return
        slot.next_token = token
        if job.stream:
            end = len(slot.text) - (_stop_holdback(slot.text, job.stops) if job.stops else 0)
            if end > slot.sent:
                job.emit(("delta", slot.text[slot.sent:end], slot.generated))
                slot.sent = end

    def _finish(self, slot: _Slot, reason: str) -> None:
        job = slot.job
        assert job is not None
        if reason != "stopped_by_client":
            slot.text += slot.decoder.decode(b"", final=True)
            if job.stream and len(slot.text) > slot.sent:
                job.emit(("delta", slot.text[slot.sent:], slot.generated))
        job.emit(("done", slot.text, reason, slot.prompt_len, slot.generated))
        self._release(slot)

    def _fail(self, slot: _Slot, message: str) -> None:
        assert slot.job is not None
        slot.job.emit(("error", message))
        self._release(slot)

    def _release(self, slot: _Slot) -> None:
        self._free_sampler(slot)
        slot.job, slot.pending, slot.next_token, slot.decoder = None, [], None, None

    # -- llama.cpp helpers -------------------------------------------------------------------------------------
    def _new_sampler(self, s: SamplingSettings, history: list[int]) -> Any:
        ll = self._ll
        params = ll.llama_sampler_chain_default_params()
        params.no_perf = True
        chain = ll.llama_sampler_chain_init(params)
        if s.penalised:
            # The binding's first argument is the vocabulary size; the window comes second.
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_penalties(
                self.n_vocab, PENALTY_LAST_N, s.repeat_penalty, s.frequency_penalty, s.presence_penalty))
        if s.temperature <= 0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
        else:
            if s.top_k:
                ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_k(int(s.top_k)))
            if s.top_p is not None and s.top_p < 1.0:
                ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(float(s.top_p), 1))
            if s.min_p:
                ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_min_p(float(s.min_p), 1))
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(float(s.temperature)))
            seed = ll.LLAMA_DEFAULT_SEED if s.seed is None else int(s.seed) & 0xFFFFFFFF
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(seed))
        if s.penalised:
            # A continued answer: its kept part counts as generated, so a cut-off loop is not resumed unpenalised.
            for token in history[-PENALTY_LAST_N:]:
                ll.llama_sampler_accept(chain, token)
        return chain

    def _free_sampler(self, slot: _Slot) -> None:
        if slot.sampler is not None:
            self._ll.llama_sampler_free(slot.sampler)
            slot.sampler = None

    def _tokenize(self, text: str) -> list[int]:
        ll = self._ll
        data = text.encode("utf-8")
        # The template writes the BOS token itself where the model wants one; add it only where it did not.
        add_special = self.adds_bos and not (self.bos_text and text.startswith(self.bos_text))
        size = len(data) + 8
        tokens = (ll.llama_token * size)()
        n = ll.llama_tokenize(self._vocab, data, len(data), tokens, size, add_special, True)
        if n < 0:  # the buffer was too small: -n is the size needed
            size = -n
            tokens = (ll.llama_token * size)()
            n = ll.llama_tokenize(self._vocab, data, len(data), tokens, size, add_special, True)
        return list(tokens[:n])

    def _token_bytes(self, token: int) -> bytes:
        ll = self._ll
        n = ll.llama_token_to_piece(self._vocab, token, self._piece, len(self._piece), 0, False)
        if n < 0:
            self._piece = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self._vocab, token, self._piece, len(self._piece), 0, False)
        return self._piece.raw[:n]

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._ll.llama_vocab_get_text(self._vocab, token).decode("utf-8", "replace")

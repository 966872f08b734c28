"""In-process vLLM backend: the async engine with continuous batching, streaming, tensor/data/pipeline parallelism.

Every `complete` call becomes one request of vLLM's async engine, which batches all requests in flight itself
(continuous batching), so mathgauge's concurrency setting is the number of requests kept queued. The chat template
of the model's tokenizer renders the messages. ``on_delta`` receives the text as it is generated; a callback
returning ``False`` aborts that request (``finish_reason="stopped_by_client"``).

Parallelism: ``tensor_parallel_size`` (GPUs per model replica), ``pipeline_parallel_size``, ``data_parallel_size``
(replicas); ``distributed_executor_backend="ray"`` spreads a model over several machines of a Ray cluster (start it
with ``ray start --head`` / ``ray start --address=...`` first).

Needs the ``vllm`` extra (``pip install 'mathgauge[vllm]'``) and a GPU supported by vLLM.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

from ..errors import ConfigError
from ._protocol import ChatRequest, ChatResponse, DeltaCallback, FatalEndpointError, ModelCallError, chat_request_body

_DTYPES = ("auto", "float16", "bfloat16", "float32")


def _import_vllm() -> Any:
    try:
        import vllm
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"backend 'vllm' needs the package {exc.name!r}; install it with: pip install 'mathgauge[vllm]' "
            f"(on a machine with a supported GPU)"
        ) from None
    return vllm


class VLLMBackend:
    """vLLM's async engine behind the async `ModelBackend` protocol.

    Args:
        model: a local folder or hub id.
        dtype: ``auto``, ``float16``, ``bfloat16``, ``float32``.
        tensor_parallel_size, pipeline_parallel_size, data_parallel_size: vLLM's parallelism degrees.
        distributed_executor_backend: ``ray`` for multi-node (or ``mp``); ``None`` lets vLLM choose.
        gpu_memory_utilization: share of each GPU's memory vLLM may use.
        max_model_len: context length (default: the model's).
        max_num_seqs: most sequences batched together by the engine.
        seed: engine seed.
        quantization: vLLM quantization method (``awq``, ``gptq``, ``fp8``, ...).
        enforce_eager: disable CUDA graphs (faster start, slower decoding).
        trust_remote_code: passed to vLLM.
        engine_args: any further ``AsyncEngineArgs`` fields, as a dict.
    """

    def __init__(
        self,
        model: str,
        *,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        pipeline_parallel_size: int = 1,
        data_parallel_size: int = 1,
        distributed_executor_backend: str | None = None,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        max_num_seqs: int | None = None,
        seed: int = 0,
        quantization: str | None = None,
        enforce_eager: bool = False,
        trust_remote_code: bool = False,
        engine_args: dict[str, Any] | None = None,
    ) -> None:
        if dtype not in _DTYPES:
            raise ConfigError(f"backend 'vllm': dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
        for name, value in (("tensor_parallel_size", tensor_parallel_size),
                            ("pipeline_parallel_size", pipeline_parallel_size),
                            ("data_parallel_size", data_parallel_size)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"backend 'vllm': {name} must be a positive integer, got {value!r}")
        if not 0 < float(gpu_memory_utilization) <= 1:
            raise ConfigError(f"backend 'vllm': gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
        if distributed_executor_backend not in (None, "ray", "mp", "uni", "external_launcher"):
            raise ConfigError(f"backend 'vllm': distributed_executor_backend must be ray or mp, "
                              f"got {distributed_executor_backend!r}")
        if engine_args is not None and not isinstance(engine_args, dict):
            raise ConfigError("backend 'vllm': engine_args must be a JSON object of AsyncEngineArgs fields")
        self._vllm = _import_vllm()
        self._model_name = model
        self.dtype = dtype
        self.options: dict[str, Any] = {
            "model": model, "dtype": dtype, "tensor_parallel_size": tensor_parallel_size,
            "pipeline_parallel_size": pipeline_parallel_size, "gpu_memory_utilization": float(gpu_memory_utilization),
            "seed": seed, "trust_remote_code": bool(trust_remote_code), "enforce_eager": bool(enforce_eager),
        }
        if data_parallel_size > 1:
            self.options["data_parallel_size"] = data_parallel_size
        for name, given in (("distributed_executor_backend", distributed_executor_backend),
                            ("max_model_len", max_model_len), ("max_num_seqs", max_num_seqs),
                            ("quantization", quantization)):
            if given is not None:
                self.options[name] = given
        self.options.update(engine_args or {})
        self.engine: Any = None
        self.tokenizer: Any = None
        self.context_length: int | None = None
        self._load_lock: asyncio.Lock | None = None
        self._ids = itertools.count()

    # -- protocol ----------------------------------------------------------------------------------------------
    @property
    def model(self) -> str:
        return self._model_name

    def cache_identity(self) -> dict[str, Any]:
        return {"backend": "vllm", "model": self._model_name, "dtype": self.dtype,
                "quantization": self.options.get("quantization")}

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        return chat_request_body(self._model_name, request, backend="vllm", dtype=self.dtype)

    async def check(self) -> list[str]:
        await self._ensure_engine()
        return []

    async def complete(self, request: ChatRequest, on_delta: DeltaCallback | None = None) -> ChatResponse:
        await self._ensure_engine()
        started = time.monotonic()
        prompt = self.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        params = self._sampling_params(request, len(prompt_ids))
        request_id = f"mathgauge-{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        final: Any = None
        sent = ""
        stopped = False
        try:
            async for output in self.engine.generate({"prompt_token_ids": prompt_ids}, params, request_id):
                final = output
                if on_delta is None:
                    continue
                text = output.outputs[0].text
                if len(text) > len(sent) and text.startswith(sent):
                    delta, sent = text[len(sent):], text
                    if on_delta(delta) is False:
                        stopped = True
                        await self.engine.abort(request_id)
                        break
        except asyncio.CancelledError:
            await self.engine.abort(request_id)
            raise
        except Exception as exc:  # an engine error fails this request; a dead engine fails them all the same way
            raise ModelCallError(f"vLLM: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        if final is None:
            raise ModelCallError("vLLM returned no output")
        choice = final.outputs[0]
        finish = "stopped_by_client" if stopped else (choice.finish_reason or "stop")
        if finish == "abort":
            finish = "stopped_by_client"
        elapsed = time.monotonic() - started
        return ChatResponse(text=choice.text, finish_reason=finish, prompt_tokens=len(prompt_ids),
                            completion_tokens=len(choice.token_ids), latency_s=elapsed, total_s=elapsed)

    async def aclose(self) -> None:
        engine, self.engine = self.engine, None
        if engine is None:
            return
        shutdown = getattr(engine, "shutdown", None)
        if callable(shutdown):
            result = shutdown()
            if asyncio.iscoroutine(result):
                await result

    # -- internals ---------------------------------------------------------------------------------------------
    def _sampling_params(self, request: ChatRequest, prompt_len: int) -> Any:
        max_tokens = request.max_tokens
        if max_tokens is None:  # the model's whole remaining context: nothing is cut short
            if self.context_length is None:
                raise ModelCallError("vLLM: unknown context length; pass --max-tokens")
            max_tokens = self.context_length - prompt_len
        if max_tokens < 1:
            raise ModelCallError(f"prompt of {prompt_len} tokens leaves no room in the context of "
                                 f"{self.context_length} tokens")
        kwargs: dict[str, Any] = {"max_tokens": int(max_tokens), "temperature": float(request.temperature or 0.0)}
        if request.top_p is not None:
            kwargs["top_p"] = float(request.top_p)
        if request.seed is not None:
            kwargs["seed"] = int(request.seed)
        if request.stop:
            kwargs["stop"] = list(request.stop)
        for key, value in request.extra_body.items():  # top_k, min_p, repetition_penalty, ...
            kwargs.setdefault(key, value)
        try:
            return self._vllm.SamplingParams(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ModelCallError(f"vLLM rejected the sampling settings: {exc}") from None

    async def _ensure_engine(self) -> None:
        if self.engine is not None:
            return
        if self._load_lock is None:
            self._load_lock = asyncio.Lock()
        async with self._load_lock:
            if self.engine is not None:
                return
            vllm = self._vllm
            try:
                args = vllm.AsyncEngineArgs(**self.options)
            except TypeError as exc:
                raise ConfigError(f"backend 'vllm': {exc}") from None
            try:
                engine = vllm.AsyncLLMEngine.from_engine_args(args)
                tokenizer = await _maybe_await(engine.get_tokenizer())
                model_config = await _maybe_await(engine.get_model_config())
            except Exception as exc:  # CUDA errors, missing weights, out of memory: the model cannot be served
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
                raise FatalEndpointError(f"backend vllm: cannot start {self._model_name!r} "
                                         f"({type(exc).__name__}: {detail})") from None
            if not getattr(tokenizer, "chat_template", None):
                raise FatalEndpointError(f"backend vllm: the tokenizer of {self._model_name!r} has no chat template")
            self.tokenizer = tokenizer
            self.context_length = getattr(model_config, "max_model_len", None)
            self.engine = engine


async def _maybe_await(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value

"""Sampling settings of a run: stored with it, compared on resume."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Body fields that other settings own; ``extra_body`` may not set them.
RESERVED_BODY_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "n", "temperature", "top_p",
                                  "max_tokens", "max_completion_tokens", "seed", "stop"})


@dataclass(frozen=True)
class SamplingConfig:
    """How responses are sampled.

    Args:
        temperature: 0 for greedy decoding.
        top_p: nucleus sampling; ``None`` for the server default.
        max_tokens: response length cap; ``None`` (default) lets the server use the model's remaining context,
            because a fixed small cap (peers default to 256) silently truncates solutions.
        seed: sent to servers that support it.
        samples: responses per problem (for avg@k, pass@k, maj@k).
        extra_body: more fields for every request body, for the server's own sampling settings: ``top_k`` or
            ``min_p`` (vLLM, SGLang), ``repeat_penalty`` (llama-cpp-python's server applies 1.1 unless a request
            sets it; ``1.0`` gives plain greedy decoding), ``repetition_penalty`` (``hf``, vLLM).
    """

    # The metadata gives each field's `mathgauge run` option (see `mathgauge.pipeline.RunSpec`); "scope": "benchmark"
    # marks the settings a run of several benchmarks may set per benchmark.
    temperature: float = field(default=0.0, metadata={"type": "float", "scope": "benchmark",
                                                       "help": "sampling temperature"})
    top_p: float | None = field(default=None, metadata={"type": "float", "scope": "benchmark",
                                                        "help": "nucleus sampling"})
    max_tokens: int | None = field(default=None, metadata={
        "type": "int", "scope": "benchmark", "help": "response length cap (default: none, the server's maximum)"})
    seed: int | None = field(default=None, metadata={
        "flag": "--sampling-seed", "type": "int", "help": "seed sent to the server (sample i gets seed+i)"})
    samples: int = field(default=1, metadata={"type": "int", "scope": "benchmark", "help": "responses per problem"})
    extra_body: dict[str, Any] = field(default_factory=dict, metadata={
        "kind": "pairs", "metavar": "KEY=VALUE",
        "help": "another field for every request body (repeatable; JSON values), e.g. top_k=20, "
                "repeat_penalty=1.0 for llama-cpp-python's server"})

    def reserved_fields(self) -> list[str]:
        """The ``extra_body`` keys that other settings own (an error to set them there)."""
        return sorted(set(self.extra_body) & RESERVED_BODY_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        if not self.extra_body:
            del doc["extra_body"]  # as runs stored before the field existed: they resume unchanged
        return doc

"""Sampling settings of a run: stored with it, compared on resume."""

from __future__ import annotations

from dataclasses import asdict, dataclass


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
    """

    temperature: float = 0.0
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    samples: int = 1

    def to_dict(self) -> dict:
        return asdict(self)

"""Chain-of-thought: one chat call per sample, the final answer expected in ``\\boxed{}``."""

from __future__ import annotations

import time

from ..models import ChatRequest, ModelBackend, ModelCallError
from ._records import Attempt
from ._sampling import SamplingConfig


class ChainOfThoughtSolver:
    """Ask the model once per sample with the rendered prompt; record the call as an `Attempt`.

    Args:
        backend: the model.
        sampling: sampling settings of the run.
    """

    kind = "chat"

    def __init__(self, backend: ModelBackend, sampling: SamplingConfig) -> None:
        self.backend = backend
        self.sampling = sampling

    def build_request(self, messages: list[dict[str, str]], sample_index: int) -> ChatRequest:
        s = self.sampling
        return ChatRequest(
            messages=messages,
            temperature=s.temperature,
            top_p=s.top_p,
            max_tokens=s.max_tokens,
            # Distinct seeds per sample: the same seed would make the k samples identical on seeded servers.
            seed=None if s.seed is None else s.seed + sample_index,
            sample_index=sample_index,
        )

    async def solve(
        self, problem_id: str, sample_index: int, messages: list[dict[str, str]], attempt_index: int = 0
    ) -> Attempt:
        """Make the call. A failed call comes back as an `Attempt` with ``error`` set (never raised), except
        `FatalEndpointError`, which must stop the whole run."""
        request = self.build_request(messages, sample_index)
        attempt = Attempt(
            problem_id=problem_id,
            sample_index=sample_index,
            attempt_index=attempt_index,
            kind=self.kind,
            request=self.backend.request_body(request),
            started_at=time.time(),
        )
        try:
            response = await self.backend.complete(request)
        except ModelCallError as exc:
            attempt.error = exc.reason
            attempt.retries = exc.retries
            return attempt
        attempt.response = response.text
        attempt.finish_reason = response.finish_reason
        attempt.prompt_tokens = response.prompt_tokens
        attempt.completion_tokens = response.completion_tokens
        attempt.latency_s = response.latency_s
        attempt.total_s = response.total_s
        attempt.retries = response.retries
        attempt.cached = response.cached
        attempt.reasoning = response.reasoning
        return attempt

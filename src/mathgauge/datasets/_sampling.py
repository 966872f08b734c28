"""What a benchmark's published figures assume about sampling, and the warning a run that samples too little gets."""

from __future__ import annotations

from ._registry import Benchmark, get_benchmark


def sampling_summary(spec: Benchmark) -> str:
    """One phrase for listings: ``pass@1`` or ``avg@k and pass@k, k = 64 (at least 16), T=0.6, top_p=0.95``."""
    s = spec.sampling
    if s.samples <= 1:
        return " / ".join(s.metrics)
    text = f"{' and '.join(s.metrics)}, k = {s.samples}"
    if s.min_samples < s.samples:
        text += f" (at least {s.min_samples})"
    if s.temperature is not None:
        text += f", T={s.temperature:g}"
    if s.top_p is not None:
        text += f", top_p={s.top_p:g}"
    return text


def sampling_warning(benchmark: str, samples: int, temperature: float | None = None) -> str | None:
    """The warning a run of ``benchmark`` with ``samples`` responses per problem (at ``temperature``, when given)
    should print, or None.

    Benchmarks of a few dozen problems (AIME, AMC) are reported as avg@k and pass@k; one response per problem gives
    a score whose noise dwarfs the differences those figures show, and that is never put beside them. Enough samples
    drawn greedily (temperature 0) where the reports sample are (nearly) the same response k times: avg@k is then
    the greedy score and pass@k no better.
    """
    spec = get_benchmark(benchmark)
    s = spec.sampling
    if samples >= s.min_samples:
        if samples > 1 and temperature == 0 and s.temperature:
            return (f"warning: {spec.title}: {samples} samples per problem at temperature 0 are (nearly) the same "
                    f"response {samples} times, so avg@k is the greedy score and pass@k no better; the published "
                    f"avg@k figures sample at T={s.temperature:g}" + (f", top_p={s.top_p:g}" if s.top_p else ""))
        return None
    settings = f"--samples {s.samples}"
    if s.temperature is not None:
        settings += f" --temperature {s.temperature:g}"
    if s.top_p is not None:
        settings += f" --top-p {s.top_p:g}"
    return (f"warning: {spec.title} is reported as {' and '.join(s.metrics)} with k = {s.min_samples} or more "
            f"samples per problem ({s.note}); this run draws {samples}, so its score is not comparable with published "
            f"figures. For a comparable run: {settings}")

"""What a user asks for in one evaluation, and how it is recorded and compared on resume."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .solve import SamplingConfig

#: Config fields that decide the results; a resumed run must match on all of them.
RESULT_FIELDS = ("benchmark", "problems_sha256", "problem_count", "backend", "backend_options", "model", "base_url",
                 "prompt_template", "sampling", "answer_format", "grader", "judge", "mode", "solver", "regeneration")


@dataclass
class EvalConfig:
    """Everything `evaluate` needs.

    Args:
        model: model name at the endpoint (for in-process backends: a local path, hub id or alias).
        model_name: the name the run is stored and reported under; ``None``: the backend's name for the model
            (``model``, or for ``llamacpp`` the alias or the GGUF's ``general.name``), never needed to rebuild it.
        benchmark: registry name (``math500``, ``math``).
        backend: ``openai`` (any OpenAI-compatible endpoint), ``hf``, ``vllm`` or ``llamacpp`` (in-process).
        backend_options: constructor options of an in-process backend (``dtype``, ``device``, ...).
        base_url: OpenAI-compatible endpoint; default ``OPENAI_BASE_URL`` or OpenAI's. Several URLs (replicas of
            one model) are load-balanced, a failing one routed around.
        api_key_env: environment variable holding the API key (the key itself is never stored).
        data_file: local JSONL/Parquet copy of the benchmark (no hub access).
        hub_repo: hub mirror to download instead of the registry's.
        columns: field -> source column overrides for unusual files.
        subjects, levels, per_cell, selection_seed, limit, manifest: which problems (see `select_problems`).
        save_manifest: write the chosen ids here.
        mode: ``cot`` (chain-of-thought), ``pot`` (program-of-thought), ``tir`` (tool-integrated reasoning),
            ``verify`` (answer, then check it with code and revise when the check fails).
        attempts: most tries per sample; another try only when a try gave no answer or its code failed.
        max_rounds: most code rounds per try (``tir``, default 4) or verification rounds (``verify``, default 2).
        exec_timeout_s, exec_memory_mb: sandbox limits per code execution.
        unsafe_no_sandbox: run model code without isolation when the sandbox's layers are missing.
        regenerate: token-by-token regeneration: watch each streamed response and regenerate from the point
            where it degenerated (loops, broken code, runaway length).
        prompt_template: built-in name or file; ``None`` for the mode's default template.
        answer_format: extraction format; ``None`` takes the template's.
        sampling: temperature, top_p, max_tokens, seed, samples per problem.
        grader: ``rules`` (default), ``judge`` (an LLM judge on the 5-point rubric decides) or ``cascade`` (the
            judge only where the rules say incorrect or no answer).
        judge_model, judge_base_url, judge_api_key_env: the judge's endpoint (default: the run's endpoint and
            key variable; the model under test is never the default judge).
        judge_rubric: rubric version (``v1``) or a ``.toml`` file.
        concurrency: most requests in flight.
        store: SQLite results file.
        run_name: name of the run (generated when ``None``).
        resume: continue the run named ``run_name`` if it exists.
        use_cache: answer repeated requests from the store's response cache.
        max_retries, request_timeout_s: per-request retry bound and time limit.
    """

    model: str
    model_name: str | None = None
    benchmark: str = "math500"
    backend: str = "openai"
    backend_options: dict[str, Any] = field(default_factory=dict)
    base_url: str | list[str] | None = None
    api_key_env: str = "OPENAI_API_KEY"
    data_file: str | None = None
    hub_repo: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    subjects: list[str] | None = None
    levels: list[int] | None = None
    per_cell: int | None = None
    selection_seed: int = 0
    limit: int | None = None
    manifest: str | None = None
    save_manifest: str | None = None
    mode: str = "cot"
    attempts: int = 1
    max_rounds: int | None = None
    exec_timeout_s: float = 10.0
    exec_memory_mb: int = 1024
    unsafe_no_sandbox: bool = False
    regenerate: bool = False
    prompt_template: str | None = None
    answer_format: str | None = None
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    grader: str = "rules"
    judge_model: str | None = None
    judge_base_url: str | None = None
    judge_api_key_env: str | None = None
    judge_rubric: str | None = None
    concurrency: int = 32
    store: str = "mathgauge.db"
    run_name: str | None = None
    resume: bool = False
    use_cache: bool = True
    max_retries: int = 5
    request_timeout_s: float = 600.0

    def resolved_base_url(self) -> str | None:
        """The endpoint as stored in the run config (replicas joined by commas); ``None`` for in-process models."""
        if self.backend != "openai":
            return None
        return ",".join(self.base_urls())

    def base_urls(self) -> list[str]:
        """The endpoint URLs (one, or several replicas)."""
        from .models import DEFAULT_BASE_URL

        given = self.base_url
        if isinstance(given, str):
            given = [u for u in given.split(",") if u.strip()]
        urls = list(given or []) or [os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL]
        return [u.strip().rstrip("/") for u in urls]

    def data_source(self) -> dict[str, str]:
        if self.data_file:
            return {"file": str(Path(self.data_file).resolve().name)}
        return {"hub_repo": self.hub_repo or "registry"}


def config_differences(stored: dict, current: dict) -> list[str]:
    """Human-readable list of result-deciding fields that differ between two run configs."""
    diffs = []
    for name in RESULT_FIELDS:
        a, b = stored.get(name), current.get(name)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    diffs.append(f"{name}.{key}: stored {a.get(key)!r}, now {b.get(key)!r}")
        else:
            diffs.append(f"{name}: stored {a!r}, now {b!r}")
    return diffs

"""`RunSpec`: everything one evaluation is asked to do, typed and versioned.

It is the single source of every run setting and its default: the ``mathgauge run`` options are derived from its
fields (each field's metadata carries its option), it is stored with the run (``config["spec"]``), resumed runs are
rebuilt from it, and ablations vary it. Runs stored before it existed (their config is a dict of resolved settings)
load into one through `RunSpec.from_stored`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import MISSING, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..solve._sampling import SamplingConfig

if TYPE_CHECKING:
    from ..store import RunRecord

#: Version of the stored form (`RunSpec.to_dict`); a newer one is refused with a clear error.
SPEC_VERSION = 1
#: Values of the choice fields (tests check them against the packages that own them).
BACKEND_KINDS = ("openai", "hf", "vllm", "llamacpp")
SOLVING_MODES = ("cot", "pot", "tir", "verify")
GRADING_MODES = ("rules", "judge", "cascade")
#: Code rounds (tir) and verification rounds (verify) per try when the spec leaves them unset.
DEFAULT_ROUNDS = {"tir": 4, "verify": 2}
#: The prompt template of each mode when the spec names none.
DATA_SOURCES = ("auto", "bundled", "hub")
DEFAULT_TEMPLATES = {"cot": "cot_boxed", "pot": "pot", "tir": "tir", "verify": "cot_boxed"}


def scored_grader(grader: str) -> str:
    """The stored grades a run's accuracy is read from: ``rules``, or ``final`` in judge and cascade runs.

    Args:
        grader: the run's grading mode (`RunSpec.grader`).
    """
    return "rules" if grader == "rules" else "final"


def _opt(default: Any = MISSING, *, flag: str | None = None, help: str, group: str = "", kind: str = "value",
         type: str | None = None, choices: tuple[str, ...] | None = None, metavar: str | None = None,
         factory: Any = MISSING, scope: str = "run") -> Any:
    """A spec field with its command-line option.

    Args:
        default, factory: the field's default (a factory for mutable ones).
        flag: the option (default ``--`` + the field name with dashes).
        help: the option's help (its default is appended).
        group: the help section.
        kind: ``value``, ``switch`` (``store_true``), ``negated`` (a ``--no-...`` switch that sets ``False``),
            ``pairs`` (repeatable ``KEY=VALUE``, JSON values, into a dict), ``repeat`` (repeatable, into a list),
            ``nested`` (a settings record whose own fields carry their options: ``sampling``), ``per_benchmark``
            (no option of its own: filled by the ``BENCHMARK=VALUE`` forms of the scoped options).
        type: how a value is read: ``int``, ``float``, ``str``, ``csv`` (comma-separated list), ``levels``,
            ``columns`` (``FIELD=COLUMN,...``).
        choices, metavar: as in argparse.
        scope: for runs of several benchmarks: ``run`` (one value for all), ``benchmark`` (one value for all, or
            ``BENCHMARK=VALUE`` for one of them), ``data`` (names something inside one benchmark's data: with
            several benchmarks only the ``BENCHMARK=VALUE`` form).
    """
    meta = {"flag": flag, "help": help, "group": group, "kind": kind, "type": type, "choices": choices,
            "metavar": metavar, "scope": scope}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunSpec:
    """Everything `mathgauge.evaluate` needs; `mathgauge.EvalConfig` is this class.

    Args:
        model: model name at the endpoint (for in-process backends: a local path, hub id or alias).
        model_name: the name the run is stored and reported under; ``None``: the backend's name for the model
            (``model``, or for ``llamacpp`` the alias or the GGUF's ``general.name``); never needed to rebuild it.
        benchmark: registry name (``math500``, ``aime24``), several (``"aime24,math500"`` or a list) or a named
            suite (``qwen-math``, ``r1``); a spec of several benchmarks runs through `evaluate_suite`, one stored run
            per benchmark.
        per_benchmark: settings of single benchmarks of a run of several, ``{"aime24": {"samples": 64}}``: the
            ``benchmark``- and ``data``-scoped fields (see `PER_BENCHMARK_SETTINGS`) by their names.
        backend: ``openai`` (any OpenAI-compatible endpoint), ``hf``, ``vllm`` or ``llamacpp`` (in-process).
        backend_options: constructor options of an in-process backend (``dtype``, ``device``, ...).
        base_url: OpenAI-compatible endpoint; default ``OPENAI_BASE_URL`` or OpenAI's. Several URLs (replicas of
            one model) are load-balanced, a failing one routed around.
        api_key_env: environment variable holding the API key (the key itself is never stored).
        data_file: local JSONL/Parquet copy of the benchmark (no hub access).
        hub_repo: hub mirror to download instead of the registry's.
        source: ``auto`` (the copy bundled with mathgauge when there is one, else the hub), ``bundled`` or ``hub``.
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
        sampling: temperature, top_p, max_tokens, seed, samples per problem, extra request fields.
        grader: ``rules`` (default), ``judge`` (an LLM judge on the 5-point rubric decides) or ``cascade`` (the
            judge only where the rules say incorrect or no answer).
        judge_model, judge_base_url, judge_api_key_env: the judge's endpoint (default: the run's endpoint and
            key variable; the model under test is never the default judge).
        judge_rubric: rubric version (``v1``) or a ``.toml`` file.
        judge_backend: the judge's backend kind (made by the same factory as the model's).
        judge_backend_options: constructor options of an in-process judge (``hf`` / ``vllm``), as
            ``backend_options`` are the model's.
        concurrency: most requests in flight.
        max_retries, request_timeout_s: per-request retry bound and time limit.
        use_cache: answer repeated requests from the store's response cache.
        store: SQLite results file.
        run_name: name of the run (generated when ``None``).
        resume: continue the run named ``run_name`` if it exists.
    """

    model: str = _opt(help="model name at the endpoint; with --backend llamacpp a .gguf file or a bundled model "
                           "(smollm2-135m)")
    model_name: str | None = _opt(None, metavar="NAME",
                                  help="the name the run is stored and reported under, instead of --model (a file "
                                       "path, a server's internal id); default: --model, or for llamacpp the alias "
                                       "or the GGUF's own name")
    benchmark: str | list[str] = _opt(
        "math500", help="math500, math, aime24, aime25, amc23, gsm8k, minerva_math, olympiadbench, gaokao2023en, "
                        "college_math; several, comma-separated (aime24,math500,gsm8k), or a suite (qwen-math, r1): "
                        "each benchmark becomes its own stored run (`mathgauge benchmarks` lists them)")
    per_benchmark: dict[str, dict[str, Any]] = _opt(
        factory=dict, kind="per_benchmark",
        help="settings of single benchmarks: the BENCHMARK=VALUE forms of the options that take one")
    backend: str = _opt("openai", choices=BACKEND_KINDS,
                        help="openai: any OpenAI-compatible endpoint; hf / vllm / llamacpp (GGUF on the CPU): "
                             "in-process")
    backend_options: dict[str, Any] = _opt(factory=dict, flag="--backend-option", kind="pairs", metavar="KEY=VALUE",
                                           help="option of an in-process backend (repeatable), e.g. dtype=bfloat16, "
                                                "device=cuda; llamacpp: n_ctx, n_parallel, n_threads, n_batch, "
                                                "flash_attn, chat_template")
    base_url: str | list[str] | None = _opt(None, kind="repeat",
                                            help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 "
                                                 "(default: $OPENAI_BASE_URL or OpenAI); repeat it for replicas of "
                                                 "one model: requests are load-balanced and a failing replica is "
                                                 "routed around")
    api_key_env: str = _opt("OPENAI_API_KEY", metavar="NAME", help="environment variable holding the API key")

    data_file: str | None = _opt(None, group="problems", scope="data",
                                 help="local JSONL or Parquet copy of the benchmark (works offline)")
    hub_repo: str | None = _opt(None, group="problems", scope="data",
                                help="Hugging Face hub mirror to download instead of the default")
    source: str = _opt("auto", group="problems", choices=DATA_SOURCES, scope="benchmark",
                       help="auto: the copy bundled with mathgauge where there is one, else the hub")
    columns: dict[str, str] = _opt(factory=dict, group="problems", type="columns", metavar="FIELD=COL,...",
                                   scope="data", help="map unusual column names, e.g. problem=question,answer=target")
    limit: int | None = _opt(None, group="problems", type="int", scope="benchmark",
                             help="first N problems (after the other filters)")
    subjects: list[str] | None = _opt(None, group="problems", type="csv", scope="data",
                                      help="comma-separated subjects, e.g. algebra,number_theory")
    levels: list[int] | None = _opt(None, group="problems", type="levels", scope="data",
                                    help="comma-separated levels, e.g. 4,5")
    per_cell: int | None = _opt(None, group="problems", type="int", metavar="K", scope="benchmark",
                                help="stratified: K problems per subject x level cell")
    selection_seed: int = _opt(0, flag="--seed", group="problems", type="int", scope="benchmark",
                               help="seed of the stratified draw")
    manifest: str | None = _opt(None, group="problems", scope="data",
                                help="take exactly the ids listed in this manifest file")
    save_manifest: str | None = _opt(None, group="problems", metavar="FILE", scope="data",
                                     help="write the chosen ids to FILE")

    mode: str = _opt("cot", group="solving", choices=SOLVING_MODES,
                     help="cot: chain-of-thought; pot: program-of-thought; tir: tool-integrated reasoning; "
                          "verify: answer, check with code, revise when the check fails")
    attempts: int = _opt(1, group="solving", type="int",
                         help="most tries per sample; a new try only when one gives no answer or its code fails")
    max_rounds: int | None = _opt(None, group="solving", type="int",
                                  help="most code rounds per try in tir mode (default 4) or verify rounds "
                                       "(default 2)")
    exec_timeout_s: float = _opt(10.0, flag="--exec-timeout", group="solving", type="float",
                                 help="seconds per code execution")
    exec_memory_mb: int = _opt(1024, group="solving", type="int", help="memory cap per code execution (MB)")
    regenerate: bool = _opt(False, group="solving", kind="switch",
                            help="token-by-token regeneration: regenerate from where a streamed response degenerated")
    unsafe_no_sandbox: bool = _opt(False, group="solving", kind="switch",
                                   help="run model code without isolation where the sandbox's layers are missing "
                                        "(unsafe)")

    grader: str = _opt("rules", group="grading", choices=GRADING_MODES,
                       help="rules; judge: an LLM judge on a 5-point rubric decides (4-5 = correct); cascade: the "
                            "judge only where the rules say incorrect or no answer")
    judge_model: str | None = _opt(None, group="grading", help="the judge model (required with --grader "
                                                                 "judge/cascade)")
    judge_base_url: str | None = _opt(None, group="grading", help="the judge's endpoint (default: the run's)")
    judge_api_key_env: str | None = _opt(None, group="grading", metavar="NAME",
                                         help="variable with the judge's key (default: the run's)")
    judge_rubric: str | None = _opt(None, group="grading", help="rubric version (v1) or a .toml file")
    judge_backend: str = _opt("openai", group="grading", choices=BACKEND_KINDS,
                              help="the judge's backend: openai (an OpenAI-compatible endpoint), or hf / vllm "
                                   "(in-process)")
    judge_backend_options: dict[str, Any] = _opt(factory=dict, group="grading", flag="--judge-backend-option",
                                                 kind="pairs", metavar="KEY=VALUE",
                                                 help="option of an in-process judge (repeatable), e.g. "
                                                      "dtype=bfloat16, device=cuda")

    prompt_template: str | None = _opt(None, group="generation", metavar="FILE", scope="benchmark",
                                       help="prompt template (built-in name, .toml, or text with {problem}; "
                                            "default: the benchmark's, or the mode's for code modes)")
    answer_format: str | None = _opt(None, group="generation", scope="benchmark",
                                     help="answer extraction format (default: the template's)")
    sampling: SamplingConfig = _opt(factory=SamplingConfig, group="generation", kind="nested",
                                    help="sampling settings")

    concurrency: int = _opt(32, group="execution", type="int", help="requests in flight")
    max_retries: int = _opt(5, group="execution", type="int", help="retries per request for errors")
    request_timeout_s: float = _opt(600.0, flag="--request-timeout", group="execution", type="float",
                                    help="seconds per request")
    use_cache: bool = _opt(True, flag="--no-cache", group="execution", kind="negated",
                           help="do not answer requests from the response cache")
    store: str = _opt("mathgauge.db", help="SQLite results file")
    run_name: str | None = _opt(None, help="name of the run (default: model-benchmark-timestamp); with several "
                                           "benchmarks the suite's name, its runs being NAME-BENCHMARK")
    resume: bool = _opt(False, kind="switch", help="continue the run named --run-name if it exists (with several "
                                                   "benchmarks: every unfinished one)")

    # -- validation ----------------------------------------------------------------------------------------------
    def check(self) -> None:
        """Refuse settings that cannot run, naming the option; checks that need files or packages come later.

        Raises:
            ConfigError: the first bad setting.
        """
        if self.mode not in SOLVING_MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; expected one of {', '.join(SOLVING_MODES)}")
        if self.attempts < 1 or (self.max_rounds is not None and self.max_rounds < 0):
            raise ConfigError("--attempts must be at least 1 and --max-rounds at least 0")
        if self.sampling.samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {self.sampling.samples}")
        reserved = self.sampling.reserved_fields()
        if reserved:
            raise ConfigError(f"--extra-body cannot set {', '.join(reserved)}: use the option of that name "
                              f"(--temperature, --top-p, --max-tokens, --sampling-seed, --samples)")
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {self.concurrency}")
        for problem in self._range_problems():
            raise ConfigError(problem)
        if self.grader not in GRADING_MODES:
            raise ConfigError(f"unknown grader {self.grader!r}; expected one of {', '.join(GRADING_MODES)}")
        if self.grader != "rules" and not self.judge_model:
            raise ConfigError(f"--grader {self.grader} needs --judge-model: the model under test is never its own "
                              f"judge by default (pass --judge-model {self.model} to insist)")
        # Options a judge endpoint cannot take would be stored as deciding results while changing nothing.
        if self.judge_backend_options and (self.grader == "rules" or self.judge_backend == "openai"):
            raise ConfigError("--judge-backend-option applies to an in-process judge (--judge-backend hf or vllm "
                              "with --grader judge or cascade)")

    # -- several benchmarks --------------------------------------------------------------------------------------
    def benchmarks(self) -> list[str]:
        """The benchmarks this spec names, in order and each once (suites expanded).

        Raises:
            DatasetError: a name that is neither a benchmark nor a suite.
        """
        from ..datasets import expand_benchmarks

        return expand_benchmarks(self.benchmark)[0]

    def split(self) -> list[RunSpec]:
        """One spec per benchmark: ``benchmark`` set to it, its own settings (``per_benchmark``) applied over the
        common ones, no ``per_benchmark`` left.

        Raises:
            ConfigError: a per-benchmark setting for a benchmark the spec does not name, or for a setting that is
                not per benchmark; with several benchmarks, one value of an option that names something inside
                one benchmark's data (``--data-file``, ``--subjects``...).
        """
        names = self.benchmarks()
        for bench, settings in self.per_benchmark.items():
            first = next(iter(settings), None)
            if bench not in names:
                flag = setting_flag(first) if first else "a per-benchmark setting"
                raise ConfigError(f"{flag} {bench}=...: {bench} is not one of this run's benchmarks "
                                  f"({', '.join(names)})")
            for key in settings:
                if key not in PER_BENCHMARK_SETTINGS:
                    raise ConfigError(f"per_benchmark[{bench!r}] sets {key!r}, which is not set per benchmark; "
                                      f"per-benchmark settings: {', '.join(sorted(PER_BENCHMARK_SETTINGS))}")
        if len(names) > 1:
            defaults = _defaults()
            for name, scope in PER_BENCHMARK_SETTINGS.items():
                if scope == "data" and getattr(self, name) != defaults[name]:
                    flag = setting_flag(name)
                    raise ConfigError(f"{flag} gives one value for {len(names)} benchmarks ({', '.join(names)}); "
                                      f"it names something inside one benchmark's data: give it per benchmark, "
                                      f"e.g. {flag} {names[0]}={flag[2:].upper().replace('-', '_')}")
        sampling_names = {f.name for f in dataclasses.fields(SamplingConfig)}
        specs = []
        for name in names:
            own = dict(self.per_benchmark.get(name) or {})
            sampling = {k: own.pop(k) for k in list(own) if k in sampling_names}
            specs.append(dataclasses.replace(self, benchmark=name, per_benchmark={},
                                             sampling=dataclasses.replace(self.sampling, **sampling), **own))
        return specs

    @property
    def benchmark_name(self) -> str:
        """The benchmark of a spec of one (as `split` and `single` make them), typed as one name.

        Raises:
            ConfigError: the spec names several benchmarks or a suite.
        """
        if isinstance(self.benchmark, str) and "," not in self.benchmark:
            return self.benchmark
        raise ConfigError(f"this spec names several benchmarks ({self.benchmark!r}); split it first (RunSpec.split)")

    def single(self) -> RunSpec:
        """The spec of this spec's one benchmark (`split`), or a `ConfigError` when it names several."""
        specs = self.split()
        if len(specs) > 1:
            raise ConfigError(f"this run names {len(specs)} benchmarks ({', '.join(s.benchmark_name for s in specs)}): "
                              f"run them with mathgauge.evaluate_suite, one stored run per benchmark")
        return specs[0]

    def _range_problems(self) -> list[str]:
        """Numeric settings outside the range that can work, each as ``--option must be ..., got X``."""
        s = self.sampling
        checks: list[tuple[str, Any, bool, str]] = [
            ("--request-timeout", self.request_timeout_s, self.request_timeout_s > 0, "more than 0 seconds"),
            ("--max-retries", self.max_retries, self.max_retries >= 0, "at least 0"),
            ("--exec-timeout", self.exec_timeout_s, self.exec_timeout_s > 0, "more than 0 seconds"),
            ("--exec-memory-mb", self.exec_memory_mb, self.exec_memory_mb > 0, "more than 0"),
            ("--temperature", s.temperature, s.temperature is None or s.temperature >= 0, "at least 0"),
            ("--top-p", s.top_p, s.top_p is None or 0 < s.top_p <= 1, "more than 0 and at most 1"),
            ("--max-tokens", s.max_tokens, s.max_tokens is None or s.max_tokens >= 1, "at least 1 (or unset)"),
        ]
        problems = []
        for option, value, ok, expected in checks:
            if not ok:  # NaN fails every comparison, so it is refused too
                problems.append(f"{option} must be {expected}, got {value}")
        return problems

    # -- derived settings ----------------------------------------------------------------------------------------
    @property
    def scored_grader(self) -> str:
        """The stored grades this run's accuracy is read from (`scored_grader`)."""
        return scored_grader(self.grader)

    def base_urls(self) -> list[str]:
        """The endpoint URLs (one, or several replicas)."""
        given = self.base_url
        if isinstance(given, str):
            given = [u for u in given.split(",") if u.strip()]
        if not given:
            from ..models import DEFAULT_BASE_URL

            given = [os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL]
        return [u.strip().rstrip("/") for u in given]

    def resolved_base_url(self) -> str | None:
        """The endpoint as stored in the run config (replicas joined by commas); ``None`` for in-process models."""
        return ",".join(self.base_urls()) if self.backend == "openai" else None

    def rounds(self) -> int | None:
        """Code or verification rounds per try: the spec's, or the mode's default (``None`` for other modes)."""
        if self.mode not in DEFAULT_ROUNDS:
            return None
        return DEFAULT_ROUNDS[self.mode] if self.max_rounds is None else self.max_rounds

    def template_name(self) -> str:
        """The prompt template to load: the spec's; else the benchmark's own prompt for the chain-of-thought modes
        and the mode's prompt for the code modes."""
        if self.prompt_template:
            return self.prompt_template
        if self.mode in ("cot", "verify"):
            from ..datasets import get_benchmark

            return get_benchmark(self.benchmark_name).prompt_template
        return DEFAULT_TEMPLATES[self.mode]

    def selection(self) -> dict[str, Any]:
        """The problem-selection settings, as stored in the run config and in saved manifests."""
        return {"subjects": self.subjects, "levels": self.levels, "per_cell": self.per_cell,
                "seed": self.selection_seed, "limit": self.limit, "manifest": self.manifest}

    def judge_settings(self) -> dict[str, Any] | None:
        """The judge's endpoint and rubric as stored in the run config (``None`` for rule grading)."""
        if self.grader == "rules":
            return None
        from ..grading.judge import DEFAULT_RUBRIC

        settings: dict[str, Any] = {
            "model": self.judge_model,
            "base_url": (self.judge_base_url or (self.base_urls()[0] if self.backend == "openai" else "")).rstrip("/"),
            "api_key_env": self.judge_api_key_env or self.api_key_env,
            "rubric": self.judge_rubric or DEFAULT_RUBRIC,
        }
        if self.judge_backend != "openai":  # absent otherwise, as in runs stored before the option existed
            settings["backend"] = self.judge_backend
        if self.judge_backend_options:  # likewise
            settings["backend_options"] = dict(self.judge_backend_options)
        return settings

    def solver_settings(self) -> dict[str, Any]:
        """The solver settings stored in the run config."""
        settings: dict[str, Any] = {"attempts": self.attempts}
        if self.mode in ("pot", "tir", "verify"):  # the modes that run code: their sandbox limits decide results
            settings.update(exec_timeout_s=self.exec_timeout_s, exec_memory_mb=self.exec_memory_mb,
                            sandboxed=not self.unsafe_no_sandbox)
        if self.mode in DEFAULT_ROUNDS:
            settings["max_rounds"] = self.rounds()
        return settings

    def execution_settings(self) -> dict[str, Any]:
        """How the run talks to its endpoint (not result-deciding: a resumed run may change them)."""
        return {"concurrency": self.concurrency, "api_key_env": self.api_key_env, "max_retries": self.max_retries,
                "request_timeout_s": self.request_timeout_s}

    # -- stored form ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The stored form: every field, plus ``version`` (``per_benchmark`` only when set: the spec stored with
        each run is of one benchmark, its own settings applied, and reads as before)."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        doc["sampling"] = dataclasses.asdict(self.sampling)
        if not self.per_benchmark:
            del doc["per_benchmark"]
        return {"version": SPEC_VERSION, **doc}

    @classmethod
    def from_dict(cls, doc: dict[str, Any], *, where: str = "run spec") -> RunSpec:
        """Read the stored form back.

        Raises:
            ConfigError: a newer version, an unknown field, or a missing model, naming ``where``.
        """
        doc = dict(doc)
        version = doc.pop("version", SPEC_VERSION)
        if not isinstance(version, int) or version > SPEC_VERSION:
            raise ConfigError(f"{where}: version {version!r} was written by a newer mathgauge "
                              f"(this one reads up to {SPEC_VERSION})")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(doc) - names)
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; expected some of "
                              f"{', '.join(sorted(names))}")
        if not doc.get("model"):
            raise ConfigError(f"{where}: no model")
        sampling = doc.pop("sampling", None) or {}
        try:
            return cls(**doc, sampling=SamplingConfig(**sampling))
        except TypeError as exc:
            raise ConfigError(f"{where}: sampling: {exc}") from None

    @classmethod
    def of_run(cls, run: RunRecord) -> RunSpec:
        """The spec of a stored run (`from_stored` on its config): the one way stored settings are read."""
        return cls.from_stored(run.config, model=run.model, benchmark=run.benchmark)

    @classmethod
    def from_stored(cls, config: dict[str, Any], *, model: str, benchmark: str) -> RunSpec:
        """The spec of a stored run: its stored spec, or, for runs stored before specs were (a dict of resolved
        settings), one rebuilt from those settings, every missing setting at this class's default.
        """
        if "spec" in config:
            return cls.from_dict(config["spec"], where=f"stored run config of model {model!r}")
        execution = config.get("execution") or {}
        solver = config.get("solver") or {}
        judge = config.get("judge") or {}
        selection = config.get("selection") or {}
        template = config.get("prompt_template")
        d = _defaults()
        return cls(
            model=model, benchmark=benchmark,
            backend=config.get("backend", d["backend"]), backend_options=config.get("backend_options") or {},
            base_url=config.get("base_url") or None, api_key_env=execution.get("api_key_env", d["api_key_env"]),
            subjects=selection.get("subjects"), levels=selection.get("levels"), per_cell=selection.get("per_cell"),
            selection_seed=selection.get("seed", d["selection_seed"]), limit=selection.get("limit"),
            manifest=selection.get("manifest"),
            mode=config.get("mode", d["mode"]), attempts=solver.get("attempts", d["attempts"]),
            max_rounds=solver.get("max_rounds"), exec_timeout_s=solver.get("exec_timeout_s", d["exec_timeout_s"]),
            exec_memory_mb=solver.get("exec_memory_mb", d["exec_memory_mb"]),
            unsafe_no_sandbox=not solver.get("sandboxed", True), regenerate=bool(config.get("regeneration")),
            prompt_template=template.get("name") if isinstance(template, dict) else None,
            answer_format=config.get("answer_format"),
            sampling=SamplingConfig(**(config.get("sampling") or {})),
            grader=config.get("grader", d["grader"]), judge_model=judge.get("model"),
            judge_base_url=judge.get("base_url") or None, judge_api_key_env=judge.get("api_key_env"),
            judge_rubric=judge.get("rubric"), judge_backend=judge.get("backend", d["judge_backend"]),
            judge_backend_options=judge.get("backend_options") or {},
            concurrency=execution.get("concurrency", d["concurrency"]),
            max_retries=execution.get("max_retries", d["max_retries"]),
            request_timeout_s=execution.get("request_timeout_s", d["request_timeout_s"]),
        )

    @classmethod
    def from_preset(cls, name: str, **fields: Any) -> RunSpec:
        """A spec with a preset's values as defaults; ``fields`` given here win over them (a ``sampling`` given
        here replaces the preset's sampling values whole)."""
        values = preset_values(name)
        sampling_names = {f.name for f in dataclasses.fields(SamplingConfig)}
        sampling = {k: values.pop(k) for k in list(values) if k in sampling_names}
        return cls(**{**values, "sampling": SamplingConfig(**sampling), **fields})


def _defaults() -> dict[str, Any]:
    """Every field's default (fields with a factory: a fresh value)."""
    out = {}
    for f in dataclasses.fields(RunSpec):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return out


def preset_values(name: str) -> dict[str, Any]:
    """A preset's values: `RunSpec` fields, or `SamplingConfig` fields by their own names (``description`` left
    out).

    Raises:
        ConfigError: an unknown preset, or one setting something that is neither.
    """
    from ..presets import load_preset

    values = load_preset(name)
    values.pop("description", None)
    names = ({f.name for f in dataclasses.fields(RunSpec)} - {"model", "sampling"}
             | {f.name for f in dataclasses.fields(SamplingConfig)})
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"preset {name!r} sets unknown option(s) {', '.join(unknown)}")
    return values


def _scoped_settings() -> dict[str, str]:
    """Setting name -> scope (``benchmark`` or ``data``) of every setting a run of several benchmarks may set per
    benchmark: `RunSpec` fields and `SamplingConfig` fields by their own names."""
    out = {}
    for f in (*dataclasses.fields(RunSpec), *dataclasses.fields(SamplingConfig)):
        scope = f.metadata.get("scope", "run")
        if scope != "run":
            out[f.name] = scope
    return out


#: The settings a run of several benchmarks may set per benchmark, with their scope (see `_opt`).
PER_BENCHMARK_SETTINGS = _scoped_settings()


def setting_flag(name: str) -> str:
    """The ``mathgauge run`` option of a `RunSpec` or `SamplingConfig` field (``samples`` -> ``--samples``)."""
    for f in (*dataclasses.fields(RunSpec), *dataclasses.fields(SamplingConfig)):
        if f.name == name:
            return f.metadata.get("flag") or "--" + name.replace("_", "-")
    return name


#: Stored config fields that decide the results; a resumed run must match on all of them.
RESULT_FIELDS = ("benchmark", "problems_sha256", "problem_count", "backend", "backend_options", "model", "base_url",
                 "prompt_template", "sampling", "answer_format", "grader", "judge", "mode", "solver", "regeneration")


#: Which spec field decides each stored setting that is not named after one (``sampling.*`` are the sampling
#: fields, other top-level settings the spec field of their name).
_SETTING_FIELDS = {
    "prompt_template": "prompt_template",
    "backend_options": "backend_options", "judge.model": "judge_model", "judge.base_url": "judge_base_url",
    "judge.api_key_env": "judge_api_key_env", "judge.rubric": "judge_rubric", "judge.rubric_version": "judge_rubric",
    "judge.backend": "judge_backend", "judge.backend_options": "judge_backend_options",
    "solver.attempts": "attempts", "solver.max_rounds": "max_rounds",
    "solver.exec_timeout_s": "exec_timeout_s", "solver.exec_memory_mb": "exec_memory_mb",
    "solver.sandboxed": "unsafe_no_sandbox", "regeneration": "regenerate",
}


def option_of(setting: str) -> str | None:
    """The ``mathgauge run`` option that decides a stored setting (``sampling.temperature`` -> ``--temperature``),
    or what does when no one option does; ``None`` when nothing the user sets does."""
    top, _, sub = setting.partition(".")
    if top in ("problems_sha256", "problem_count"):
        return "the problems chosen: the data and --limit, --subjects, --levels, --per-cell, --seed, --manifest"
    if top == "sampling" and sub:
        fields = {f.name: f for f in dataclasses.fields(SamplingConfig)}
    else:
        fields = {f.name: f for f in dataclasses.fields(RunSpec)}
        sub = _SETTING_FIELDS.get(setting) or _SETTING_FIELDS.get(top) or top
    f = fields.get(sub)
    if f is None:
        return None
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def config_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable list of result-deciding settings that differ between two stored run configs, one per
    differing setting, with the option that decides it (``sampling.temperature: stored 0.0, now 0.5
    (--temperature)``)."""
    diffs = []

    def differ(name: str, a: Any, b: Any) -> None:
        option = option_of(name)
        diffs.append(f"{name}: stored {a!r}, now {b!r}" + (f" ({option})" if option else ""))

    unstored = _unstored_values()
    for name in RESULT_FIELDS:
        a, b = stored.get(name), current.get(name)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                setting = f"{name}.{key}"
                was = a.get(key, unstored.get(setting))
                if was != b.get(key):
                    differ(setting, was, b.get(key))
        else:
            differ(name, a, b)
    return diffs


def _unstored_values() -> dict[str, Any]:
    """Settings older versions did not store but used, with the value they used (self-verification runs kept no
    sandbox limits: they always ran with the defaults)."""
    d = _defaults()
    return {"solver.exec_timeout_s": d["exec_timeout_s"], "solver.exec_memory_mb": d["exec_memory_mb"],
            "solver.sandboxed": not d["unsafe_no_sandbox"]}


#: The earlier name of `RunSpec`, kept for the Python API (``mathgauge.EvalConfig``).
EvalConfig = RunSpec

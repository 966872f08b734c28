"""The plan stage: check a `RunSpec`, choose its problems, resolve what it leaves open (template, answer format),
and find or create the stored run, refusing a resume whose settings differ."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..errors import ConfigError, StoreError
from ._spec import RunSpec, config_differences


@dataclass
class RunPlan:
    """A checked, resolved spec and what it runs on.

    Args:
        spec: the spec with its answer format resolved (the template's when it named none).
        template: the prompt template (`mathgauge.prompts.PromptTemplate`).
        problems: the chosen problems, in order.
        config: the run config to store: the result-deciding settings, resolved, and the spec (``spec``).
        notes: what the user should know (selection notes, files written).
    """

    spec: RunSpec
    template: Any
    problems: list[Any]
    config: dict[str, Any]
    notes: list[str]


def plan_run(spec: RunSpec) -> RunPlan:
    """Check ``spec`` (of one benchmark), load and select its problems, resolve its template and answer format.

    Raises:
        MathgaugeError: a bad setting, data file, manifest or template, naming it.
    """
    from ..datasets import load_benchmark, load_manifest, sampling_warning, save_manifest, select_problems
    from ..grading import ANSWER_FORMATS
    from ..prompts import load_template

    spec = spec.single()  # its benchmark's own settings applied; several benchmarks go through evaluate_suite
    spec.check()
    template = load_template(spec.template_name())
    answer_format = spec.answer_format or template.answer_format
    if answer_format not in ANSWER_FORMATS:
        raise ConfigError(f"unknown answer format {answer_format!r}; expected one of {', '.join(ANSWER_FORMATS)}")
    spec = dataclasses.replace(spec, answer_format=answer_format)
    judge = spec.judge_settings()
    if judge is not None:
        from ..grading.judge import load_rubric

        judge["rubric_version"] = load_rubric(spec.judge_rubric).version  # a bad rubric raises, naming it

    benchmark = spec.benchmark_name
    data = load_benchmark(benchmark, data_file=spec.data_file, hub_repo=spec.hub_repo,
                          columns=spec.columns or None, source=spec.source)
    ids = load_manifest(spec.manifest, benchmark) if spec.manifest else None
    selection = select_problems(data.problems, subjects=spec.subjects, levels=spec.levels, per_cell=spec.per_cell,
                                seed=spec.selection_seed, ids=ids, limit=spec.limit)
    notes = [*data.notes, *selection.notes]
    warning = sampling_warning(benchmark, spec.sampling.samples, spec.sampling.temperature)
    if warning:
        notes.append(warning)
    chosen = selection.problems
    if spec.save_manifest:
        save_manifest(spec.save_manifest, benchmark, chosen, spec.selection())
        notes.append(f"wrote the {len(chosen)} chosen ids to {spec.save_manifest}")

    config = {
        "benchmark": benchmark,
        "data_source": {**data.source, "left_out": len(data.left_out)} if data.left_out else data.source,
        "problems_sha256": _problems_digest(chosen),
        "problem_count": len(chosen),
        "backend": spec.backend,
        "backend_options": spec.backend_options,
        "model": spec.model,
        "base_url": spec.resolved_base_url(),
        "prompt_template": template.to_dict(),
        "sampling": spec.sampling.to_dict(),
        "answer_format": answer_format,
        "grader": spec.grader,
        "judge": judge,
        "mode": spec.mode,
        "solver": spec.solver_settings(),
        "regeneration": regeneration_policy(spec),
        "selection": spec.selection(),
        "execution": spec.execution_settings(),
        "spec": spec.to_dict(),
    }
    return RunPlan(spec=spec, template=template, problems=chosen, config=config, notes=notes)


def regeneration_policy(spec: RunSpec) -> dict[str, Any] | None:
    """The regeneration policy a run stores (``None`` without regeneration)."""
    if not spec.regenerate:
        return None
    from ..models import RegenerationPolicy

    # Stopping right after a code block only suits tool use, where the sandbox supplies the output.
    return RegenerationPolicy(stop_after_code_block=spec.mode == "tir").describe()


def open_run(plan: RunPlan, store: Any, lease: Any = None) -> tuple[Any, bool]:
    """The run to execute: the stored run of that name when resuming (its settings must match; this process takes
    its ``lease``, or, without one, it is only checked that no other process holds it), else ``None``.

    Returns:
        (the existing `RunRecord` or ``None``, whether the plan resumes it).

    Raises:
        StoreError: the name is taken and ``resume`` is off, or the stored run's settings differ (each one named).
        RunBusy: another process is working on the run.
    """
    spec = plan.spec
    existing = store.find_run(spec.run_name) if spec.run_name else None
    if existing is None:
        return None, False
    if not spec.resume:
        raise StoreError(f"a run named {spec.run_name!r} already exists in {spec.store}; "
                         f"pass --resume to continue it or choose another --run-name")
    diffs = config_differences(existing.config, plan.config)
    if diffs:
        raise StoreError(f"cannot resume run {existing.name!r}: its config differs: " + "; ".join(diffs))
    if lease is not None:
        store.acquire_lease(existing, lease)
    else:
        store.check_not_busy(existing)
    return existing, True


def create_run(plan: RunPlan, store: Any, lease: Any = None, model_name: str | None = None) -> tuple[Any, bool]:
    """Store a new run, held by this process's ``lease`` from the start (when given), with its problems and
    pending samples (the exact prompt of each).

    Args:
        plan: the planned run.
        store: the open `Store`.
        lease: this process's `mathgauge.store.Lease` (``None``: the run is created at rest, e.g. by a suite that
            continues it later).
        model_name: the name the run is stored and reported under (``--model-name``, else the backend's name for
            the model: never a file path); default ``plan.spec.model``. The config keeps ``--model`` for resuming.

    Returns:
        (the run, whether it is an existing one resumed instead: with ``resume`` on, another process may have
        created the run of that name since `open_run` looked).
    """
    spec = plan.spec
    model = model_name or spec.model
    try:
        run = store.create_run(name=spec.run_name or _default_run_name(model, spec.benchmark_name),
                               benchmark=spec.benchmark_name, model=model, config=plan.config, versions=_versions(),
                               lease=lease)
    except StoreError:
        if spec.resume and spec.run_name and store.find_run(spec.run_name) is not None:
            return open_run(plan, store, lease)
        raise
    try:
        store.add_problems(run.run_id, plan.problems, [plan.template.render(p.problem) for p in plan.problems],
                           spec.sampling.samples)
    except BaseException:
        try:
            store.delete_run(run.run_id)  # a run without its samples is no run
        except Exception:  # noqa: BLE001 -- the store may be what failed; the first error is the one to tell
            pass
        raise
    return run, False


def _versions() -> dict[str, str]:
    return {"mathgauge": __version__, "python": platform.python_version(), "platform": platform.platform()}


def _default_run_name(model: str, benchmark: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model.split("/")[-1]).strip("-") or "model"
    # The random tail keeps two runs started in the same second apart.
    return f"{slug}-{benchmark}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"


def _problems_digest(problems: list[Any]) -> str:
    h = hashlib.sha256()
    for p in problems:
        h.update(json.dumps([p.id, p.problem, p.answer], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()

"""`RunSpec`: the one source of every run setting. The command line is derived from it (checked by walking the
parser), it round-trips through its stored form, old stored configs load into it, and presets are defaults that
whatever the user types overrides."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sqlite3
from pathlib import Path

import pytest

import mathgauge
from mathgauge.cli import DEFAULT_STORE, build_parser
from mathgauge.errors import ConfigError
from mathgauge.pipeline import RunSpec
from mathgauge.pipeline._spec import BACKEND_KINDS, GRADING_MODES, SOLVING_MODES, SPEC_VERSION
from mathgauge.pipeline._spec_cli import spec_from_args, spec_options
from mathgauge.solve import SamplingConfig
from mathgauge.testing import scripted_server


def run_parser(*argv: str) -> argparse.ArgumentParser:
    parser = build_parser(["run", *argv])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def field_default(f: dataclasses.Field):
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]


def test_the_cli_defaults_are_the_run_spec_defaults() -> None:
    parser = run_parser()
    actions = {a.dest: a for a in parser._actions}
    options = spec_options()
    assert len({dest for dest, _, _ in options}) == len(options)
    for dest, f, _ in options:
        if f.name == "per_benchmark":  # no option of its own: the BENCHMARK=VALUE forms of the scoped ones fill it
            assert parser.get_default(dest) == {} and dest not in actions
            continue
        action = actions.pop(dest)  # every field has its option
        if f.name == "model":
            assert action.required
            continue
        assert action.default == field_default(f), dest
    # What is left is the command line's own: help, the preset, and where the summary goes.
    assert set(actions) == {"help", "preset", "summary_json", "quiet"}
    # A command line that sets nothing asks for the spec's defaults, field by field.
    assert spec_from_args(parser.parse_args(["--model", "m"])) == RunSpec(model="m")
    from mathgauge.store import DEFAULT_STORE as STORE_DEFAULT

    assert DEFAULT_STORE == RunSpec.store == STORE_DEFAULT


def test_the_cli_sets_every_field() -> None:
    args = run_parser().parse_args([
        "--model", "m", "--model-name", "nm", "--benchmark", "math", "--backend", "hf",
        "--backend-option", "dtype=bfloat16",
        "--base-url", "http://a/v1", "--base-url", "http://b/v1", "--api-key-env", "K", "--data-file", "d.jsonl",
        "--hub-repo", "h/r", "--source", "hub", "--columns", "problem=q", "--limit", "7", "--subjects", "algebra,geometry",
        "--levels", "4,5", "--per-cell", "3", "--seed", "9", "--manifest", "m.json", "--save-manifest", "s.json",
        "--mode", "tir", "--attempts", "3", "--max-rounds", "5", "--exec-timeout", "2.5", "--exec-memory-mb", "256",
        "--regenerate", "--unsafe-no-sandbox", "--grader", "cascade", "--judge-model", "j", "--judge-base-url",
        "http://j/v1", "--judge-api-key-env", "JK", "--judge-rubric", "v1", "--judge-backend", "vllm",
        "--judge-backend-option", "gpu_memory_utilization=0.3", "--prompt-template", "tir", "--answer-format", "boxed", "--temperature", "0.7", "--top-p", "0.9",
        "--max-tokens", "100", "--sampling-seed", "4", "--samples", "8", "--extra-body", "top_k=20",
        "--concurrency", "4", "--max-retries", "2", "--request-timeout", "30", "--no-cache", "--store", "x.db",
        "--run-name", "r", "--resume", "--samples", "math=16", "--data-file", "math=m.jsonl"])
    spec = spec_from_args(args)
    assert spec == RunSpec(
        model="m", model_name="nm", benchmark="math", per_benchmark={"math": {"samples": 16, "data_file": "m.jsonl"}}, backend="hf",
        backend_options={"dtype": "bfloat16"},
        base_url=["http://a/v1", "http://b/v1"], api_key_env="K", data_file="d.jsonl", hub_repo="h/r",
        source="hub", columns={"problem": "q"}, limit=7, subjects=["algebra", "geometry"], levels=[4, 5], per_cell=3,
        selection_seed=9, manifest="m.json", save_manifest="s.json", mode="tir", attempts=3, max_rounds=5,
        exec_timeout_s=2.5, exec_memory_mb=256, regenerate=True, unsafe_no_sandbox=True, grader="cascade",
        judge_model="j", judge_base_url="http://j/v1", judge_api_key_env="JK", judge_rubric="v1",
        judge_backend="vllm", judge_backend_options={"gpu_memory_utilization": 0.3}, prompt_template="tir",
        answer_format="boxed",
        sampling=SamplingConfig(temperature=0.7, top_p=0.9, max_tokens=100, seed=4, samples=8,
                                extra_body={"top_k": 20}),
        concurrency=4, max_retries=2, request_timeout_s=30.0, use_cache=False, store="x.db", run_name="r",
        resume=True)
    # Every field was set to something other than its default: no option is missing.
    defaults = RunSpec(model="x")
    assert all(getattr(spec, f.name) != getattr(defaults, f.name) for f in dataclasses.fields(RunSpec))
    assert all(getattr(spec.sampling, f.name) != getattr(defaults.sampling, f.name)
               for f in dataclasses.fields(SamplingConfig))


def test_choices_are_those_of_the_packages_that_own_them() -> None:
    from mathgauge.grading.judge import GRADER_MODES
    from mathgauge.models import BACKENDS
    from mathgauge.solve import MODES

    assert BACKEND_KINDS == tuple(BACKENDS) and SOLVING_MODES == MODES and GRADING_MODES == GRADER_MODES


def test_no_parser_takes_abbreviations() -> None:
    parser = build_parser(["--help"])  # every command, plugins included
    parsers = [parser]
    while parsers:
        current = parsers.pop()
        assert current.allow_abbrev is False, current.prog
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    assert not run_parser().allow_abbrev


def test_a_preset_gives_defaults_and_what_the_user_types_wins(run_cli, tmp_path: Path) -> None:
    args = run_parser("--preset", "arxiv-2501.17084").parse_args(
        ["--preset", "arxiv-2501.17084", "--model", "m", "--attempts", "3", "--mode=cot", "--judge-model", "j"])
    spec = spec_from_args(args)
    assert (spec.attempts, spec.mode) == (3, "cot")  # typed
    assert (spec.grader, spec.regenerate, spec.benchmark) == ("cascade", True, "math")  # the preset's
    assert spec.manifest and spec.manifest.endswith("arxiv-2501.17084.manifest.json")
    assert RunSpec.from_preset("arxiv-2501.17084", model="m", attempts=3).attempts == 3
    assert RunSpec.from_preset("arxiv-2501.17084", model="m").attempts == 10
    # An abbreviation is an error, not silently the option it abbreviates (nor the preset's value).
    result = run_cli("run", "--preset", "arxiv-2501.17084", "--model", "m", "--attempt", "3",
                     "--store", str(tmp_path / "x.db"))
    assert result.code == 2 and "unrecognized arguments: --attempt 3" in result.err
    unknown = run_cli("run", "--preset", "nope", "--model", "m", "--store", str(tmp_path / "x.db"))
    assert unknown.code == 2 and unknown.err.startswith("error: unknown preset 'nope'")
    assert not (tmp_path / "x.db").exists()


def test_the_stored_form_round_trips_and_is_versioned() -> None:
    spec = RunSpec(model="m", mode="pot", attempts=4, base_url=["http://a/v1"], levels=[5],
                   sampling=SamplingConfig(temperature=0.5, samples=3, extra_body={"top_k": 5}))
    doc = json.loads(json.dumps(spec.to_dict()))
    assert doc["version"] == SPEC_VERSION and RunSpec.from_dict(doc) == spec
    with pytest.raises(ConfigError, match="newer mathgauge"):
        RunSpec.from_dict({**doc, "version": SPEC_VERSION + 1})
    with pytest.raises(ConfigError, match="unknown field.*colour"):
        RunSpec.from_dict({**doc, "colour": "blue"})


def test_a_v3_config_dict_loads_into_the_run_spec() -> None:
    stored = {  # as mathgauge stored a tool-integrated cascade run before run specs existed
        "benchmark": "math", "backend": "openai", "backend_options": {}, "model": "m",
        "base_url": "http://a/v1,http://b/v1", "answer_format": "boxed", "grader": "cascade", "mode": "tir",
        "judge": {"model": "j", "base_url": "http://j/v1", "api_key_env": "JK", "rubric": "v1",
                  "rubric_version": "v1"},
        "prompt_template": {"name": "tir", "system": "", "user": "{problem}", "answer_format": "boxed"},
        "sampling": {"temperature": 0.0, "top_p": None, "max_tokens": None, "seed": None, "samples": 2},
        "solver": {"attempts": 3, "exec_timeout_s": 5.0, "exec_memory_mb": 512, "sandboxed": True, "max_rounds": 4},
        "regeneration": None, "selection": {"subjects": None, "levels": [5], "per_cell": None, "seed": 0,
                                            "limit": 10, "manifest": None},
        "execution": {"concurrency": 8, "api_key_env": "K", "max_retries": 2, "request_timeout_s": 60.0},
    }
    spec = RunSpec.from_stored(stored, model="m", benchmark="math")
    assert spec == RunSpec(
        model="m", benchmark="math", base_url="http://a/v1,http://b/v1", api_key_env="K", levels=[5], limit=10,
        mode="tir", attempts=3, max_rounds=4, exec_timeout_s=5.0, exec_memory_mb=512, prompt_template="tir",
        answer_format="boxed", sampling=SamplingConfig(samples=2), grader="cascade", judge_model="j",
        judge_base_url="http://j/v1", judge_api_key_env="JK", judge_rubric="v1", concurrency=8, max_retries=2,
        request_timeout_s=60.0)
    assert spec.base_urls() == ["http://a/v1", "http://b/v1"]
    # Settings the old dict leaves out take the spec's defaults, written once.
    assert RunSpec.from_stored({"sampling": {}}, model="m", benchmark="math500") == RunSpec(model="m")


def test_the_spec_is_stored_with_the_run_and_compared_on_resume(run_cli, tmp_path: Path, small_data) -> None:
    db = tmp_path / "s.db"
    with scripted_server("--data", str(small_data)) as srv:
        base = ["run", "--model", "m", "--base-url", srv.base_url, "--data-file", str(small_data), "--store", str(db),
                "--quiet", "--limit", "3", "--run-name", "r"]
        assert run_cli(*base, "--samples", "2", "--temperature", "0.5").code == 0
        with sqlite3.connect(db) as conn:
            config = json.loads(conn.execute("SELECT config_json FROM runs").fetchone()[0])
        spec = RunSpec.from_dict(config["spec"])
        assert (spec.limit, spec.sampling.samples, spec.sampling.temperature) == (3, 2, 0.5)
        assert spec.answer_format == "boxed"  # resolved from the template when the run started
        differs = run_cli(*base, "--resume", "--samples", "3", "--mode", "verify")
        assert differs.code == 2 and differs.err.startswith("error: cannot resume run 'r': its config differs: ")
        assert "sampling.samples: stored 2, now 3 (--samples)" in differs.err
        assert "mode: stored 'cot', now 'verify' (--mode)" in differs.err
        assert run_cli(*base, "--resume", "--samples", "2", "--temperature", "0.5", "--concurrency", "3").code == 0


def test_the_python_api_keeps_eval_config() -> None:
    assert mathgauge.EvalConfig is RunSpec is mathgauge.RunSpec
    assert mathgauge.EvalConfig(model="m", sampling=mathgauge.SamplingConfig(samples=2)).sampling.samples == 2
    with pytest.raises(ConfigError, match="--concurrency must be at least 1"):
        RunSpec(model="m", concurrency=0).check()


def test_commands_load_only_what_they_need(tmp_path: Path) -> None:
    import subprocess
    import sys

    def loaded(*argv: str) -> set[str]:
        code = ("import sys; from mathgauge.cli import main\n"
                "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
                "print(' '.join(m for m in sys.modules if m.startswith('mathgauge')))")
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
        return set(done.stdout.split())

    # The version needs no command; other commands do not build the run options (nor load the pipeline).
    assert not {m for m in loaded("--version") if m.startswith(("mathgauge.pipeline", "mathgauge.report",
                                                                  "mathgauge.models", "mathgauge.grading"))}
    assert not {m for m in loaded("runs", "--store", "/nonexistent/x.db") if m.startswith("mathgauge.pipeline")}
    assert "mathgauge.pipeline._spec_cli" in loaded("run", "--help")
    # Reading stored runs reads their settings through the run spec, which loads neither the rest of the pipeline
    # nor the model backends.
    from mathgauge.store import Store

    db = tmp_path / "runs.db"
    with Store(db) as store:
        store.create_run(name="r", benchmark="math500", model="m", config={"spec": RunSpec(model="m").to_dict()},
                         versions={})
    for command in (("runs",), ("show", "r")):
        modules = loaded(*command, "--store", str(db))
        assert "mathgauge.pipeline._spec" in modules, command
        assert {m for m in modules if m.startswith(("mathgauge.pipeline", "mathgauge.models", "mathgauge.solve."))
                } == {"mathgauge.pipeline", "mathgauge.pipeline._spec", "mathgauge.solve._sampling"}, command


def test_settings_older_versions_used_without_storing_them_compare_as_used() -> None:
    from mathgauge.pipeline import config_differences

    # A self-verification run stored before its sandbox limits were: it ran with the defaults.
    old = {"mode": "verify", "solver": {"attempts": 1, "max_rounds": 2}}
    same = RunSpec(model="m", mode="verify")
    assert config_differences(old, {"mode": "verify", "solver": same.solver_settings()}) == []
    other = RunSpec(model="m", mode="verify", exec_timeout_s=5.0)
    assert config_differences(old, {"mode": "verify", "solver": other.solver_settings()}) == [
        "solver.exec_timeout_s: stored 10.0, now 5.0 (--exec-timeout)"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"request_timeout_s": 0}, "--request-timeout must be more than 0 seconds, got 0"),
    ({"max_retries": -1}, "--max-retries must be at least 0, got -1"),
    ({"sampling": SamplingConfig(temperature=-1)}, "--temperature must be at least 0, got -1"),
    ({"sampling": SamplingConfig(max_tokens=0)}, "--max-tokens must be at least 1 (or unset), got 0"),
    ({"sampling": SamplingConfig(top_p=0)}, "--top-p must be more than 0 and at most 1, got 0"),
    ({"sampling": SamplingConfig(temperature=float("nan"))}, "--temperature must be at least 0, got nan"),
    ({"exec_timeout_s": 0}, "--exec-timeout must be more than 0 seconds, got 0"),
    ({"concurrency": 0}, "--concurrency must be at least 1, got 0"),
])
def test_settings_that_cannot_work_are_refused_by_the_api_and_the_cli(run_cli, tmp_path, fields, message) -> None:
    spec = RunSpec(model="m", base_url="http://127.0.0.1:9/v1", store=str(tmp_path / "x.db"), **fields)
    with pytest.raises(ConfigError, match=re.escape(message)):
        spec.check()
    with pytest.raises(ConfigError):
        mathgauge.evaluate(spec)  # the Python API checks before anything is loaded or stored
    flag = {"request_timeout_s": "--request-timeout", "max_retries": "--max-retries", "exec_timeout_s":
            "--exec-timeout", "concurrency": "--concurrency"}
    args = []
    for name, value in fields.items():
        if name == "sampling":
            changed = {k: v for k, v in dataclasses.asdict(value).items()
                       if v != getattr(SamplingConfig(), k)}
            for k, v in changed.items():
                args += [f"--{k.replace('_', '-')}", str(v)]
        else:
            args += [flag[name], str(value)]
    result = run_cli("run", "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--store",
                     str(tmp_path / "x.db"), *args)
    assert result.code == 2 and result.err.startswith("error: " + message.split(", got")[0])
    assert not (tmp_path / "x.db").exists()


def test_an_in_process_judge_gets_its_own_backend_options(run_cli, tmp_path: Path) -> None:
    from mathgauge.pipeline import config_differences
    from mathgauge.pipeline._solve import make_judge

    def judged(**options: object) -> RunSpec:
        return RunSpec(model="m", grader="judge", judge_model="j", judge_backend="hf",
                       judge_backend_options=dict(options))

    spec = judged(dtype="float8")
    spec.check()
    # The options reach the judge's constructor (made by the model's factory), which checks them.
    with pytest.raises(ConfigError, match="backend 'hf': dtype must be one of"):
        make_judge(spec, None)
    # Stored with the judge's settings, read back, and compared on resume with the option that sets them.
    settings = spec.judge_settings()
    assert settings is not None and settings["backend_options"] == {"dtype": "float8"}
    assert RunSpec.from_stored({"judge": settings}, model="m", benchmark="math500").judge_backend_options == {
        "dtype": "float8"}
    assert RunSpec(model="m", grader="judge", judge_model="j").judge_settings().keys() == {
        "model", "base_url", "api_key_env", "rubric"}  # as runs stored before the options existed
    assert config_differences({"judge": settings}, {"judge": judged(dtype="bfloat16").judge_settings()}) == [
        "judge.backend_options: stored {'dtype': 'float8'}, now {'dtype': 'bfloat16'} (--judge-backend-option)"]
    # Refused where no in-process judge would take them, before anything runs.
    result = run_cli("run", "--model", "m", "--grader", "judge", "--judge-model", "j", "--judge-backend-option",
                     "dtype=bfloat16", "--store", str(tmp_path / "x.db"))
    assert result.code == 2 and result.err.startswith("error: --judge-backend-option applies to an in-process judge")
    assert not (tmp_path / "x.db").exists()

"""Several benchmarks in one command (`mathgauge run --benchmark a,b,c`, named suites): one stored run per benchmark
with its own settings, the benchmark x model table (terminal, --summary-json, compare, show, HTML), resume of the
whole, and bad combinations refused with one error line before anything is stored. End to end through the scripted
server on the local copies in ../shared/data/more/."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mathgauge.datasets import get_benchmark, load_benchmark
from mathgauge.errors import ConfigError, DatasetError
from mathgauge.pipeline import RunSpec, evaluate, evaluate_suite
from mathgauge.report import load_registry
from mathgauge.report._published import split_run_model
from mathgauge.solve import SamplingConfig
from mathgauge.testing import ScriptRates, scripted_outcome, scripted_server

MORE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "more"
MODEL = "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"  # a model with published AIME 2024 and MATH-500 figures


@pytest.fixture(scope="module")
def files(math500_path: Path) -> dict[str, Path]:
    out = {"math500": math500_path}
    for name in ("aime24", "gsm8k", "amc23"):
        out[name] = MORE / f"{name}.jsonl"
        if not out[name].exists():
            pytest.fail(f"missing {out[name]}: tests read ../shared/data/more beside the repository")
    return out


def data_args(files: dict[str, Path], *names: str) -> list[str]:
    return [arg for name in names for arg in ("--data-file", f"{name}={files[name]}")]


def server_args(files: dict[str, Path], *names: str) -> list[str]:
    return [arg for name in names for arg in ("--data", f"{name}={files[name]}")]


def rows(db: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def configs(db: Path) -> dict[str, dict]:
    return {name: json.loads(config) for name, config in rows(db, "SELECT name, config_json FROM runs")}


def expected_accuracy(name: str, path: Path, limit: int, rates: ScriptRates = ScriptRates()) -> float:
    """The scripted model's score on the first ``limit`` problems: every sample of a problem gets the same
    scripted outcome, so pass@1, avg@k and pass@k are all the share of problems scripted correct."""
    problems = load_benchmark(name, data_file=path).problems[:limit]
    return sum(scripted_outcome(p.problem, rates) == "correct" for p in problems) / len(problems)


def recorded(server) -> list[dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/requests", timeout=10) as resp:
        return json.loads(resp.read())


def user_text(request: dict) -> str:
    return "\n".join(m.get("content") or "" for m in request["messages"] if m.get("role") == "user")


# -- the spec: one spec per benchmark, the samples rule, the refusals -------------------------------------------
def test_a_spec_of_several_benchmarks_splits_into_one_per_benchmark_with_its_own_settings() -> None:
    spec = RunSpec(model="m", benchmark="r1,gsm8k", limit=5, sampling=SamplingConfig(samples=2),
                   per_benchmark={"aime24": {"samples": 16, "temperature": 0.6, "data_file": "a.jsonl"},
                                  "gsm8k": {"limit": 9}})
    assert spec.benchmarks() == ["aime24", "math500", "gsm8k"]  # the suite expanded, in order
    by_name = {s.benchmark: s for s in spec.split()}
    assert list(by_name) == ["aime24", "math500", "gsm8k"]
    # The rule: a benchmark's own value wins; every other benchmark takes the common one.
    assert [by_name[b].sampling.samples for b in by_name] == [16, 2, 2]
    assert [by_name[b].sampling.temperature for b in by_name] == [0.6, 0.0, 0.0]
    assert [by_name[b].limit for b in by_name] == [5, 5, 9]
    assert by_name["aime24"].data_file == "a.jsonl" and by_name["math500"].data_file is None
    assert all(s.per_benchmark == {} for s in by_name.values())
    # The stored form of a one-benchmark spec is as before (no per_benchmark), and round-trips.
    assert "per_benchmark" not in by_name["gsm8k"].to_dict()
    assert RunSpec.from_dict(spec.to_dict()) == spec

    with pytest.raises(ConfigError, match="--data-file gives one value for 2 benchmarks"):
        RunSpec(model="m", benchmark="aime24,gsm8k", data_file="x.jsonl").split()
    with pytest.raises(ConfigError, match="--levels gives one value"):
        RunSpec(model="m", benchmark="math,math500", levels=[5]).split()
    with pytest.raises(ConfigError, match="amc23 is not one of this run's benchmarks"):
        RunSpec(model="m", benchmark="r1", per_benchmark={"amc23": {"samples": 4}}).split()
    with pytest.raises(ConfigError, match="'mode', which is not set per benchmark"):
        RunSpec(model="m", benchmark="r1", per_benchmark={"aime24": {"mode": "tir"}}).split()
    with pytest.raises(DatasetError, match="unknown benchmark 'aime2024' \\(nor a suite\\).*suites: qwen-math, r1"):
        RunSpec(model="m", benchmark="aime2024,math500").split()
    # One benchmark: a data option may be given plainly, as always.
    assert RunSpec(model="m", benchmark="gsm8k", data_file="g.jsonl").single().data_file == "g.jsonl"
    with pytest.raises(ConfigError, match="evaluate_suite"):
        evaluate(RunSpec(model="m", benchmark=["aime24", "gsm8k"]))


def test_the_registry_names_the_suites_of_the_reports(run_cli) -> None:
    from mathgauge.datasets import get_suite
    from mathgauge.datasets._suites import _suite

    qwen, r1 = get_suite("qwen-math"), get_suite("r1")
    assert qwen.benchmarks == ("gsm8k", "math", "minerva_math", "gaokao2023en", "olympiadbench", "college_math",
                               "aime24", "amc23")
    assert r1.benchmarks == ("aime24", "math500") and "CNMO 2024" in r1.left_out[0]
    assert r1.advice() == "--temperature 0.6 --top-p 0.95 --samples 64 --max-tokens 32768"
    result = run_cli("benchmarks", "--suites", "--json")
    assert result.code == 0, result.err
    assert [s["name"] for s in json.loads(result.out)] == ["qwen-math", "r1"]
    assert "suites (several benchmarks in one run" in run_cli("benchmarks").out
    known = {"aime24", "gsm8k"}
    with pytest.raises(DatasetError, match=r"\[suites.x\]: unknown benchmark\(s\) \['aime2024'\]"):
        _suite("x", {"benchmarks": ["aime2024"]}, known)
    with pytest.raises(DatasetError, match="cannot have the name of a benchmark"):
        _suite("gsm8k", {"benchmarks": ["aime24"]}, known)
    with pytest.raises(DatasetError, match="unknown key"):
        _suite("x", {"benchmarks": ["aime24"], "sampels": 4}, known)


# -- end to end ----------------------------------------------------------------------------------------------------
def test_three_benchmarks_store_three_runs_with_their_settings_and_one_table(run_cli, files, tmp_path) -> None:
    db, summary, limit = tmp_path / "s.db", tmp_path / "s.json", 6
    template = tmp_path / "word.toml"
    template.write_text('name = "word"\nanswer_format = "boxed"\nuser = """{problem}\n\nWord problem: put the final '
                        'number in \\\\boxed{}."""\n', encoding="utf-8")
    with scripted_server(*server_args(files, "aime24", "math500", "gsm8k"), "--record-requests") as srv:
        result = run_cli("run", "--model", MODEL, "--base-url", srv.base_url, "--benchmark", "aime24,math500,gsm8k",
                         *data_args(files, "aime24", "math500", "gsm8k"), "--limit", str(limit),
                         "--samples", "aime24=4", "--temperature", "aime24=0.6", "--prompt-template",
                         f"gsm8k={template}", "--store", str(db), "--run-name", "S", "--quiet",
                         "--summary-json", str(summary))
        requests = recorded(srv)
    assert result.code == 0, result.err

    # Three stored runs, each with its benchmark's settings, tied to the suite.
    stored = configs(db)
    assert list(stored) == ["S-aime24", "S-math500", "S-gsm8k"]
    assert rows(db, "SELECT name, benchmark, model, status FROM runs") == [
        ("S-aime24", "aime24", MODEL, "finished"), ("S-math500", "math500", MODEL, "finished"),
        ("S-gsm8k", "gsm8k", MODEL, "finished")]
    assert [c["sampling"]["samples"] for c in stored.values()] == [4, 1, 1]
    assert [c["sampling"]["temperature"] for c in stored.values()] == [0.6, 0.0, 0.0]
    assert [c["prompt_template"]["name"] for c in stored.values()] == ["cot_boxed", "cot_boxed", "word"]
    assert [c["problem_count"] for c in stored.values()] == [limit] * 3
    assert all(c["suite"]["name"] == "S" and c["suite"]["benchmarks"] == ["aime24", "math500", "gsm8k"]
               and c["spec"]["benchmark"] == name.split("-")[1] and "per_benchmark" not in c["spec"]
               for name, c in stored.items())
    assert rows(db, "SELECT r.name, COUNT(*) FROM samples s JOIN runs r USING (run_id) GROUP BY r.name "
                    "ORDER BY r.created_at") == [("S-aime24", 4 * limit), ("S-math500", limit), ("S-gsm8k", limit)]
    # The gsm8k template reached the gsm8k requests only.
    gsm8k = {p.problem for p in load_benchmark("gsm8k", data_file=files["gsm8k"]).problems[:limit]}
    assert sum("Word problem:" in user_text(r) for r in requests) == limit
    assert all(("Word problem:" in user_text(r)) == any(p in user_text(r) for p in gsm8k) for r in requests)
    # The sampling warning for AIME (4 < 16 samples), none for the others.
    assert "warning: AIME 2024 is reported as avg@k and pass@k" in result.err and "this run draws 4" in result.err
    assert result.err.count("warning:") == 1

    # The table: the numbers the script implies, the run's own interval, the comparable published figure.
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert doc["suite"] == "S" and doc["benchmarks"] == ["aime24", "math500", "gsm8k"] and doc["exit_code"] == 0
    runs = {r["benchmark"]: r for r in doc["runs"]}
    table = doc["table"]
    assert [c["benchmark"] for c in table["columns"]] == ["aime24", "math500", "gsm8k"]
    assert [r["label"] for r in table["rows"]] == [MODEL]
    cells = table["rows"][0]["cells"]
    for name in ("aime24", "math500", "gsm8k"):
        expected = expected_accuracy(name, files[name], limit)
        assert cells[name]["value"] == pytest.approx(expected) == runs[name]["accuracy"], name
        assert cells[name]["ci95"] == runs[name]["ci95"] and cells[name]["problems"] == limit
    assert [cells[b]["metric"] for b in ("aime24", "math500", "gsm8k")] == ["avg@4", "pass@1", "pass@1"]
    assert cells["aime24"]["pass@4"]["value"] == pytest.approx(expected_accuracy("aime24", files["aime24"], limit))
    assert any("4 sample(s) per problem" in c for c in cells["aime24"]["caveats"])
    key, _ = split_run_model(MODEL)
    published = [e for e in load_registry() if e.model_key == key]
    # MATH-500: greedy run, so the greedy figure first; every figure listed is an accuracy on MATH-500.
    math500 = cells["math500"]["published"]
    assert math500 and all(p["score"] in {e.score for e in published if e.benchmark == "MATH-500"} for p in math500)
    greedy = [e.score for e in published if e.benchmark == "MATH-500" and e.metric_kind == "greedy"]
    assert math500[0]["score"] in greedy and "maj" not in " ".join(p["metric"] for p in math500)
    # AIME 2024 with 4 samples: the avg@64 and cons@64 figures the registry has are not beside it.
    assert {e.metric_kind for e in published if e.benchmark == "AIME 2024"} >= {"avg@k", "maj@k"}
    assert cells["aime24"]["published"] == [] and cells["gsm8k"]["published"] == []
    # The terminal shows the same table.
    assert "S: benchmark x model" in result.out and "AIME 2024" in result.out and "GSM8K" in result.out
    assert f"{100 * cells['math500']['value']:.1f} [" in result.out
    assert f"published {math500[0]['score']:g}" in result.out

    # A second model's suite: compare (table + paired differences), show and the HTML report take suite names.
    rates = ScriptRates(correct=0.4)
    with scripted_server(*server_args(files, "aime24", "math500", "gsm8k"), "--correct-rate", "0.4") as weak:
        result = run_cli("run", "--model", "weak-model", "--base-url", weak.base_url, "--benchmark",
                         "aime24,math500,gsm8k", *data_args(files, "aime24", "math500", "gsm8k"), "--limit",
                         str(limit), "--store", str(db), "--run-name", "W", "--quiet")
    assert result.code == 0, result.err
    out = tmp_path / "cmp.json"
    result = run_cli("compare", "S", "W", "--store", str(db), "--bootstrap", "200", "--json", str(out))
    assert result.code == 0, result.err
    comp = json.loads(out.read_text(encoding="utf-8"))
    assert [r["label"] for r in comp["table"]["rows"]] == [MODEL, "weak-model"]
    weak_cells = comp["table"]["rows"][1]["cells"]
    for name in ("aime24", "math500", "gsm8k"):
        assert weak_cells[name]["value"] == pytest.approx(expected_accuracy(name, files[name], limit, rates))
        pair = comp["comparisons"][name]["pairs"][0]
        assert (pair["a"], pair["b"]) == (f"S-{name}", f"W-{name}")
        assert pair["diff"] == pytest.approx(cells[name]["value"] - weak_cells[name]["value"])
    assert "Paired differences per benchmark" in result.out and "samples per problem differs (4 vs 1)" in result.out
    shown = run_cli("show", "W", "--store", str(db), "--summary-json", str(tmp_path / "w.json"))
    assert shown.code == 0 and "W: benchmark x model" in shown.out
    assert json.loads((tmp_path / "w.json").read_text())["table"]["rows"][0]["cells"]["gsm8k"]["value"] == \
        pytest.approx(weak_cells["gsm8k"]["value"])
    html = tmp_path / "r.html"
    result = run_cli("report", "S", "W", "--store", str(db), "-o", str(html), "--no-regrade")
    assert result.code == 0, result.err
    page = html.read_text(encoding="utf-8")
    assert page.count("class='model-row'") == 2 and page.count("class='num cell'") == 6
    assert f"<span class='acc'>{100 * weak_cells['gsm8k']['value']:.1f}</span>" in page
    assert f"published {math500[0]['score']:g} ({math500[0]['metric']})" in page

    # The same names again without --resume: refused, nothing stored.
    before = rows(db, "SELECT COUNT(*) FROM runs")
    result = run_cli("run", "--model", MODEL, "--base-url", "http://127.0.0.1:9/v1", "--benchmark",
                     "aime24,math500,gsm8k", *data_args(files, "aime24", "math500", "gsm8k"), "--store", str(db),
                     "--run-name", "S", "--limit", str(limit))
    assert result.code == 2 and result.err.startswith("error: ") and "pass --resume" in result.err
    assert rows(db, "SELECT COUNT(*) FROM runs") == before


def test_the_python_api_returns_a_result_per_benchmark(files, tmp_path) -> None:
    with scripted_server(*server_args(files, "aime24", "amc23")) as srv:
        spec = RunSpec(model="scripted", base_url=srv.base_url, benchmark=["amc23", "aime24"], limit=4,
                       store=str(tmp_path / "api.db"), run_name="api",
                       per_benchmark={"amc23": {"data_file": str(files["amc23"]), "samples": 2},
                                      "aime24": {"data_file": str(files["aime24"])}})
        notes: list[str] = []
        suite = evaluate_suite(spec, notify=notes.append)
    assert suite.name == "api" and list(suite.results) == ["amc23", "aime24"] and suite.exit_code == 0
    assert [r.run.name for r in suite.results.values()] == ["api-amc23", "api-aime24"]
    assert suite.results["amc23"].summary.samples_per_problem == 2
    for name, result in suite.results.items():
        assert result.summary.accuracy == pytest.approx(expected_accuracy(name, files[name], 4))
    assert [c.benchmark for c in suite.table.columns] == ["amc23", "aime24"]
    assert any(n.startswith("[2/2] aime24: api-aime24: pass@1") for n in notes)


def test_resume_continues_only_the_unfinished_benchmarks(run_cli, files, tmp_path) -> None:
    db, limit = tmp_path / "k.db", 12
    names = ("aime24", "gsm8k", "amc23")
    with scripted_server(*server_args(files, *names), "--latency", "0.05", "--record-requests") as srv:
        cmd = [sys.executable, "-m", "mathgauge.cli", "run", "--model", "scripted", "--base-url", srv.base_url,
               "--benchmark", ",".join(names), *data_args(files, *names), "--limit", str(limit), "--limit",
               "gsm8k=40", "--concurrency", "1", "--store", str(db), "--run-name", "K", "--quiet"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline, graded = time.monotonic() + 60, 0
        while time.monotonic() < deadline:  # kill it once the first benchmark is done and the second under way
            time.sleep(0.02)
            try:
                status = dict(rows(db, "SELECT name, status FROM runs")) if db.exists() else {}
                graded = rows(db, "SELECT COUNT(*) FROM grades JOIN runs USING (run_id) WHERE name = 'K-gsm8k'")[0][0]
            except sqlite3.OperationalError:
                continue
            if status.get("K-aime24") == "finished" and graded >= 1:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        state = dict(rows(db, "SELECT name, status FROM runs"))
        done_gsm8k = rows(db, "SELECT COUNT(*) FROM samples JOIN runs USING (run_id) WHERE name = 'K-gsm8k' "
                              "AND samples.status = 'done'")[0][0]
        assert state.get("K-aime24") == "finished" and "K-amc23" not in state, state
        assert 1 <= done_gsm8k < 40, "the second benchmark must be killed mid-way"
        first = rows(db, "SELECT started_at, finished_at, wall_s FROM runs WHERE name = 'K-aime24'")
        calls_first = rows(db, "SELECT COUNT(*) FROM attempts JOIN runs USING (run_id) WHERE name = 'K-aime24'")
        asked_before = len(recorded(srv))

        summary = tmp_path / "k.json"
        result = run_cli("resume", "K", "--store", str(db), "--quiet", "--summary-json", str(summary))
        assert result.code == 0, result.err
        asked = recorded(srv)[asked_before:]
        aime = [p.problem for p in load_benchmark("aime24", data_file=files["aime24"]).problems[:limit]]
        # The finished benchmark was left as it was stored; only the unfinished work was asked for.
        assert not any(p in user_text(r) for r in asked for p in aime)
        assert rows(db, "SELECT started_at, finished_at, wall_s FROM runs WHERE name = 'K-aime24'") == first
        assert rows(db, "SELECT COUNT(*) FROM attempts JOIN runs USING (run_id) WHERE name = 'K-aime24'") == \
            calls_first
        assert limit <= len(asked) <= (40 - done_gsm8k) + limit  # in-flight samples may come from the cache
        assert "[1/3] aime24: run K-aime24 finished before; kept as stored" in result.err
        assert rows(db, "SELECT name, status FROM runs ORDER BY created_at") == [
            ("K-aime24", "finished"), ("K-gsm8k", "finished"), ("K-amc23", "finished")]
        doc = json.loads(summary.read_text(encoding="utf-8"))
        for run in doc["runs"]:
            size = 40 if run["benchmark"] == "gsm8k" else limit
            assert run["n"] == size and run["failed"] == 0
            assert run["accuracy"] == pytest.approx(expected_accuracy(run["benchmark"], files[run["benchmark"]],
                                                                      size))

        # The same command with --resume: everything is finished, nothing is asked again.
        asked_before = len(recorded(srv))
        result = run_cli(*cmd[3:], "--resume")
        assert result.code == 0, result.err
        assert len(recorded(srv)) == asked_before
        assert result.err.count("finished before; kept as stored") == 3


@pytest.mark.parametrize("args, message", [
    (["--benchmark", "aime24,gsm8k", "--data-file", "x.jsonl"], "--data-file gives one value for 2 benchmarks"),
    (["--benchmark", "r1", "--subjects", "algebra"], "--subjects gives one value for 2 benchmarks"),
    (["--benchmark", "aime24,math500", "--samples", "gsm8k=4"], "gsm8k is not one of this run's benchmarks"),
    (["--benchmark", "aime24,nope"], "unknown benchmark 'nope' (nor a suite)"),
    (["--benchmark", "aime24,gsm8k", "--data-file", "aime24=/nonexistent/a.jsonl"], "data file not found"),
    (["--benchmark", "aime24,gsm8k", "--run-name", "taken"], "a run named 'taken' exists"),
])
def test_bad_combinations_give_one_error_line_and_store_nothing(run_cli, files, tmp_path, args, message) -> None:
    db = tmp_path / "bad.db"
    from mathgauge.store import Store

    with Store(db) as store:  # one run already there: nothing may be added beside it
        store.create_run(name="taken", benchmark="math500", model="m", config={}, versions={})
    result = run_cli("run", "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--store", str(db), *args)
    assert result.code == 2, (result.out, result.err)
    assert result.err.startswith("error: ") and message in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert rows(db, "SELECT name FROM runs") == [("taken",)]


def test_a_per_benchmark_value_that_does_not_parse_is_an_option_error(run_cli) -> None:
    result = run_cli("run", "--model", "m", "--benchmark", "r1", "--samples", "aime24=many")
    assert result.code == 2 and "argument --samples: invalid value 'many'" in result.err
    result = run_cli("run", "--model", "m", "--benchmark", "r1", "--source", "aime24=web")
    assert result.code == 2 and "invalid choice 'web'" in result.err
    assert get_benchmark("aime24").sampling.min_samples == 16  # what the warnings above rest on


def test_the_sampling_warnings_cover_too_few_samples_and_greedy_samples() -> None:
    from mathgauge.datasets import sampling_warning

    assert "this run draws 4" in sampling_warning("aime24", 4, 0.6)
    greedy = sampling_warning("aime24", 64, 0.0)
    assert greedy.startswith("warning: AIME 2024: 64 samples per problem at temperature 0") and "T=0.6" in greedy
    assert sampling_warning("aime24", 64, 0.6) is None and sampling_warning("aime24", 64) is None
    assert sampling_warning("math500", 8, 0.0) is None  # no recommended temperature: nothing to say

"""`mathgauge run` end to end through the scripted server: numbers, store, cache, rate limits, failures, resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import stored_calls

from mathgauge.datasets import load_problems
from mathgauge.prompts import load_template
from mathgauge.store import Store
from mathgauge.testing import ScriptRates, scripted_outcome, scripted_server



def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def expected_counts(data: Path, rates: ScriptRates = ScriptRates()) -> Counter:
    return Counter(scripted_outcome(p.problem, rates) for p in load_problems("math500", data_file=data))


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def run_args(server: Any, data: Path, db: Path, *extra: str) -> list[str]:
    return ["run", "--model", "scripted", "--base-url", server.base_url, "--data-file", str(data),
            "--store", str(db), "--quiet", *extra]


def test_run_reports_the_scripted_numbers_and_stores_everything(run_cli, server, small_data, tmp_path) -> None:
    db, summary = tmp_path / "r.db", tmp_path / "s.json"
    result = run_cli(*run_args(server, small_data, db, "--run-name", "first", "--summary-json", str(summary)))
    assert result.code == 0, result.err
    expected = expected_counts(small_data)
    doc = read_json(summary)
    assert doc["run_name"] == "first" and doc["model"] == "scripted" and doc["benchmark"] == "math500"
    assert doc["n"] == 40 and doc["failed"] == 0
    assert doc["correct"] == expected["correct"]
    assert doc["no_answer"] == expected["no_answer"]
    assert doc["accuracy"] == pytest.approx(expected["correct"] / 40)
    problems = load_problems("math500", data_file=small_data)
    assert {k: v["n"] for k, v in doc["by_subject"].items()} == dict(Counter(p.subject for p in problems))
    assert {k: v["n"] for k, v in doc["by_level"].items()} == {str(k): v for k, v in
                                                              Counter(p.level for p in problems).items()}
    lo, hi = doc["ci95"]
    assert lo < doc["accuracy"] < hi
    assert "Accuracy" in result.out and f"{expected['correct']}/40" in result.out

    # One attempt and one grade per sample, and the exact prompt of every sample recorded.
    assert rows(db, "SELECT COUNT(*) FROM attempts") == [(40,)]
    assert rows(db, "SELECT COUNT(*) FROM grades") == [(40,)]
    template = load_template()
    with Store(db) as store:
        run_id = store.get_run("first").run_id
        prompt = next(r["prompt"] for r in store.export_rows(run_id) if r["problem_id"] == problems[0].id)
        request = next(c["request_json"] for c in store.calls(run_id) if c["problem_id"] == problems[0].id)
    assert prompt == template.render(problems[0].problem)
    assert json.loads(request)["messages"] == prompt
    config = json.loads(rows(db, "SELECT config_json FROM runs")[0][0])
    assert config["sampling"] == {"temperature": 0.0, "top_p": None, "max_tokens": None, "seed": None, "samples": 1}


def test_rerun_is_answered_from_the_cache_unless_disabled(run_cli, small_data, tmp_path, math500_path) -> None:
    db = tmp_path / "c.db"
    with scripted_server("--data", str(math500_path)) as srv:
        assert run_cli(*run_args(srv, small_data, db, "--run-name", "a")).code == 0
        assert srv.stats()["chat_requests"] == 40
        assert run_cli(*run_args(srv, small_data, db, "--run-name", "b", "--summary-json",
                                 str(tmp_path / "b.json"))).code == 0
        assert srv.stats()["chat_requests"] == 40  # nothing paid twice
        assert read_json(tmp_path / "b.json")["cached"] == 40
        assert run_cli(*run_args(srv, small_data, db, "--run-name", "c", "--no-cache")).code == 0
        assert srv.stats()["chat_requests"] == 80


def test_429_storm_every_sample_completes(run_cli, small_data, tmp_path, math500_path) -> None:
    db, summary = tmp_path / "storm.db", tmp_path / "s.json"
    with scripted_server("--data", str(math500_path), "--reject-every", "2", "--retry-after", "0.05") as srv:
        result = run_cli(*run_args(srv, small_data, db, "--summary-json", str(summary), "--concurrency", "16"))
        stats = srv.stats()
    assert result.code == 0, result.err
    doc = read_json(summary)
    assert doc["n"] == 40 and doc["failed"] == 0 and doc["correct"] == expected_counts(small_data)["correct"]
    assert stats["rejected"] >= 20 and doc["retries"] == stats["rejected"]


def test_all_rejected_gives_up_as_a_whole_and_resume_recovers(run_cli, small_data, tmp_path, math500_path):
    db, summary = tmp_path / "fail.db", tmp_path / "s.json"
    with scripted_server("--data", str(math500_path), "--reject-all", "--retry-after", "0.001") as srv:
        result = run_cli(*run_args(srv, small_data, db, "--run-name", "doomed", "--summary-json", str(summary)))
        requests = srv.stats()["chat_requests"]
    # A storm of 429s: the run gives up once three requests ran out of tries with nothing answered, instead of
    # every sample spending its own 31 tries.
    assert result.code == 3
    assert result.err.count("error:") == 1 and "kept rate-limiting" in result.err
    assert "`mathgauge resume doomed` continues" in result.err
    assert requests < 40 * 31
    assert rows(db, "SELECT status FROM runs") == [("interrupted",)]
    failed = rows(db, "SELECT COUNT(*) FROM samples WHERE status = 'failed'")[0][0]
    assert failed <= 2 and rows(db, "SELECT COUNT(*) FROM samples WHERE status = 'done'") == [(0,)]

    # The endpoint recovers (same URL): resuming solves every sample, the failed ones included.
    with scripted_server("--data", str(math500_path)) as healthy:
        with sqlite3.connect(db) as conn:
            # The run's spec (what resume runs) and its resolved settings both name the endpoint.
            conn.execute("UPDATE runs SET config_json = json_set(config_json, '$.base_url', ?, '$.spec.base_url',"
                         " json_array(?))", (healthy.base_url, healthy.base_url))
        result = run_cli("resume", "doomed", "--store", str(db), "--quiet", "--summary-json", str(summary))
        assert healthy.stats()["chat_requests"] == 40
    assert result.code == 0, result.err
    doc = read_json(summary)
    assert doc["failed"] == 0 and doc["n"] == 40 and doc["correct"] == expected_counts(small_data)["correct"]


def test_samples_that_fail_are_named_and_resume_recovers(run_cli, small_data, tmp_path, math500_path):
    db, summary = tmp_path / "fail.db", tmp_path / "s.json"
    # One problem always gets an empty reply; the others are answered, so the endpoint as a whole is fine.
    first = json.loads(small_data.read_text().splitlines()[0])["problem"]
    with scripted_server("--data", str(math500_path), "--fault", "empty", "--fault-match", first[:60]) as srv:
        result = run_cli(*run_args(srv, small_data, db, "--run-name", "doomed", "--summary-json", str(summary),
                                   "--max-retries", "1", "--concurrency", "2"))
    assert result.code == 3
    doc = read_json(summary)
    assert doc["failed"] == 1 and doc["n"] == 39
    assert "empty reply" in doc["failures"][0]["error"] and "gave up after 2 tries" in doc["failures"][0]["error"]
    assert "1 sample(s) failed" in result.out
    assert rows(db, "SELECT COUNT(*) FROM attempts WHERE error IS NOT NULL") == [(1,)]
    assert rows(db, "SELECT retries FROM attempts WHERE error IS NOT NULL") == [(1,)]  # 2 tries = 1 retry
    with Store(db, read_only=True) as store:  # nothing empty cached: a resume asks again
        cached = [store.get_response(key)["text"] for (key,) in rows(db, "SELECT key FROM response_cache")]
    assert len(cached) == 39 and all(text.strip() for text in cached)
def test_truncated_responses_are_counted(run_cli, small_data, tmp_path, math500_path) -> None:
    rates = ScriptRates(correct=0.5, no_answer=0.1, truncated=0.3)
    with scripted_server("--data", str(math500_path), "--correct-rate", "0.5", "--no-answer-rate", "0.1",
                         "--truncate-rate", "0.3") as srv:
        result = run_cli(*run_args(srv, small_data, tmp_path / "t.db", "--summary-json", str(tmp_path / "s.json")))
    assert result.code == 0
    doc = read_json(tmp_path / "s.json")
    expected = expected_counts(small_data, rates)
    assert doc["truncated"] == expected["truncated"] > 0
    assert doc["no_answer"] == expected["no_answer"] + expected["truncated"]


def test_several_samples_per_problem(run_cli, server, small_data, tmp_path) -> None:
    summary = tmp_path / "s.json"
    result = run_cli(*run_args(server, small_data, tmp_path / "k.db", "--samples", "3", "--temperature", "0.7",
                               "--limit", "5", "--summary-json", str(summary)))
    assert result.code == 0
    doc = read_json(summary)
    assert doc["n"] == 15 and doc["samples_per_problem"] == 3 and doc["problems"] == 5


def test_subset_options_and_manifest_round_trip(run_cli, server, math500_path, tmp_path) -> None:
    manifest = tmp_path / "m.json"
    result = run_cli(*run_args(server, math500_path, tmp_path / "m.db", "--per-cell", "1", "--seed", "3",
                               "--save-manifest", str(manifest), "--summary-json", str(tmp_path / "a.json")))
    assert result.code == 0, result.err
    ids = read_json(manifest)["ids"]
    assert len(ids) == 35  # 7 subjects x 5 levels, one each
    result = run_cli(*run_args(server, math500_path, tmp_path / "m.db", "--manifest", str(manifest),
                               "--summary-json", str(tmp_path / "b.json")))
    assert result.code == 0
    assert read_json(tmp_path / "a.json")["correct"] == read_json(tmp_path / "b.json")["correct"]
    assert read_json(tmp_path / "b.json")["n"] == 35


def test_runs_show_and_export(run_cli, server, small_data, tmp_path) -> None:
    db = tmp_path / "e.db"
    assert run_cli(*run_args(server, small_data, db, "--run-name", "exported", "--limit", "10")).code == 0
    listing = run_cli("runs", "--store", str(db))
    assert listing.code == 0 and "exported" in listing.out
    shown = run_cli("show", "exported", "--store", str(db))
    assert shown.code == 0 and "Accuracy" in shown.out and "By subject" in shown.out
    out_jsonl, out_csv = tmp_path / "e.jsonl", tmp_path / "e.csv"
    assert run_cli("export", "exported", "--format", "jsonl", "--output", str(out_jsonl), "--store", str(db)).code == 0
    records = [json.loads(line) for line in out_jsonl.read_text().splitlines()]
    assert len(records) == 10
    assert {"problem_id", "prompt", "response", "gold_answer", "extracted", "correct", "grade"} <= set(records[0])
    assert run_cli("export", "exported", "--format", "csv", "--output", str(out_csv), "--store", str(db)).code == 0
    table = list(csv.DictReader(out_csv.open()))
    assert len(table) == 10 and table[0]["problem_id"] == records[0]["problem_id"]
    missing = run_cli("show", "nope", "--store", str(db))
    assert missing.code == 2 and "no run 'nope'" in missing.err


def test_resume_refuses_a_different_config(run_cli, server, small_data, tmp_path) -> None:
    db = tmp_path / "d.db"
    assert run_cli(*run_args(server, small_data, db, "--run-name", "r", "--limit", "5")).code == 0
    result = run_cli(*run_args(server, small_data, db, "--run-name", "r", "--limit", "5", "--resume",
                               "--temperature", "0.5", "--max-tokens", "100"))
    assert result.code == 2
    assert "config differs" in result.err
    assert "sampling.temperature: stored 0.0, now 0.5" in result.err and "sampling.max_tokens" in result.err
    again = run_cli(*run_args(server, small_data, db, "--run-name", "r", "--limit", "5"))
    assert again.code == 2 and "already exists" in again.err
    assert rows(db, "SELECT COUNT(*) FROM grades") == [(5,)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmark", "gsm9k"], "unknown benchmark 'gsm9k'"),
        (["--manifest", "MANIFEST"], "not in the dataset"),
        (["--data-file", "BAD"], ":2: invalid JSON"),
        (["--base-url", "http://127.0.0.1:9/v1"], "cannot reach the model endpoint"),
        (["--prompt-template", "nope.toml"], "cannot read prompt template"),
        (["--answer-format", "xml"], "unknown answer format 'xml'"),
        (["--extra-body", "temperature=1"], "--extra-body cannot set temperature: use the option of that name"),
    ],
)
def test_bad_input_is_one_clear_error_and_loses_nothing(run_cli, server, small_data, tmp_path, args, message):
    db = tmp_path / "keep.db"
    assert run_cli(*run_args(server, small_data, db, "--run-name", "keep", "--limit", "3")).code == 0
    (tmp_path / "m.json").write_text(json.dumps({"ids": ["no/such/id"]}))
    (tmp_path / "bad.jsonl").write_text('{"problem": "1+1", "answer": "2"}\n{oops\n')
    args = [{"MANIFEST": str(tmp_path / "m.json"), "BAD": str(tmp_path / "bad.jsonl")}.get(a, a) for a in args]
    base = run_args(server, small_data, db)
    if "--base-url" in args:
        base[base.index("--base-url") + 1] = args[1]
        args = []
    result = run_cli(*base, *args)
    assert result.code == 2
    assert message in result.err and result.err.startswith("error: ") and "Traceback" not in result.err
    assert rows(db, "SELECT name, status FROM runs") == [("keep", "finished")]
    assert rows(db, "SELECT COUNT(*) FROM grades") == [(3,)]


def test_auth_and_model_errors(run_cli, small_data, tmp_path, math500_path, monkeypatch) -> None:
    with scripted_server("--data", str(math500_path), "--api-key", "sk-good", "--model", "served") as srv:
        monkeypatch.setenv("MY_KEY", "sk-bad")
        bad_key = run_cli("run", "--model", "served", "--base-url", srv.base_url, "--api-key-env", "MY_KEY",
                          "--data-file", str(small_data), "--store", str(tmp_path / "a.db"), "--quiet")
        assert bad_key.code == 2 and "401" in bad_key.err and "check the key in MY_KEY" in bad_key.err
        assert "OPENAI_API_KEY" not in bad_key.err  # the variable named, not the default one
        monkeypatch.delenv("MY_KEY")
        unset = run_cli("run", "--model", "served", "--base-url", srv.base_url, "--api-key-env", "MY_KEY",
                        "--data-file", str(small_data), "--store", str(tmp_path / "a.db"), "--quiet")
        assert unset.code == 2 and "MY_KEY is not set" in unset.err and "OPENAI_API_KEY" not in unset.err
        monkeypatch.setenv("MY_KEY", "sk-good")
        wrong_model = run_cli("run", "--model", "other", "--base-url", srv.base_url, "--api-key-env", "MY_KEY",
                              "--data-file", str(small_data), "--store", str(tmp_path / "a.db"), "--quiet")
        assert wrong_model.code == 2 and "404 for model 'other'" in wrong_model.err
        # The run never got going: it is not left behind as an empty failed run.
        assert "nothing was stored (the run was not kept)" in wrong_model.err
        assert rows(tmp_path / "a.db", "SELECT COUNT(*) FROM runs") == [(0,)]
        assert rows(tmp_path / "a.db", "SELECT COUNT(*) FROM samples") == [(0,)]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    no_key = run_cli("run", "--model", "gpt-4o-mini", "--data-file", str(small_data),
                     "--store", str(tmp_path / "b.db"), "--quiet")
    assert no_key.code == 2 and "no API key: set OPENAI_API_KEY" in no_key.err


def test_kill_9_mid_run_then_resume_gives_identical_results(tmp_path, math500_path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(math500_path.read_text().splitlines()[:120]) + "\n")
    db = tmp_path / "k.db"
    with scripted_server("--data", str(math500_path), "--latency", "0.15") as srv:
        cmd = [sys.executable, "-m", "mathgauge.cli", *run_args(srv, data, db, "--run-name", "killed",
                                                                "--concurrency", "8")]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        graded = 0
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if db.exists():
                try:
                    graded = rows(db, "SELECT COUNT(*) FROM grades")[0][0]
                except sqlite3.OperationalError:
                    continue
                if graded >= 30:
                    break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done_before = rows(db, "SELECT COUNT(*) FROM grades")[0][0]
        assert 30 <= done_before < 120, "the run must be killed mid-way"
        requests_before = srv.stats()["chat_requests"]

        resumed = subprocess.run([sys.executable, "-m", "mathgauge.cli", "resume", "killed", "--store", str(db),
                                  "--quiet", "--summary-json", str(tmp_path / "resumed.json")],
                                 capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        # Finished samples were not asked again (in-flight ones at the kill may be, or come from the cache).
        assert srv.stats()["chat_requests"] - requests_before <= 120 - done_before

        fresh = subprocess.run([sys.executable, "-m", "mathgauge.cli", *run_args(
            srv, data, tmp_path / "fresh.db", "--concurrency", "8", "--summary-json", str(tmp_path / "fresh.json"))],
            capture_output=True, text=True, timeout=120)
        assert fresh.returncode == 0, fresh.stderr

    a, b = read_json(tmp_path / "resumed.json"), read_json(tmp_path / "fresh.json")
    for key in ("n", "correct", "accuracy", "no_answer", "failed", "by_subject", "by_level", "ci95"):
        assert a[key] == b[key], key
    assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT problem_id) FROM grades") == [(120, 120)]
    assert rows(db, "SELECT COUNT(*) FROM attempts") == [(120,)]  # no duplicate calls recorded
    assert rows(db, "SELECT status FROM runs") == [("finished",)]


def test_an_unexpected_error_fails_one_sample_not_the_run(run_cli, server, small_data, tmp_path, monkeypatch):
    from mathgauge.grading import Grader

    real = Grader.grade

    def flaky(self, response, gold, **kw):
        if gold == load_problems("math500", data_file=small_data)[3].answer:
            raise RuntimeError("grader bug")
        return real(self, response, gold, **kw)

    monkeypatch.setattr(Grader, "grade", flaky)
    summary = tmp_path / "s.json"
    result = run_cli(*run_args(server, small_data, tmp_path / "bug.db", "--limit", "10", "--summary-json",
                               str(summary)))
    doc = read_json(summary)
    assert result.code == 3
    assert doc["failed"] >= 1 and doc["n"] + doc["failed"] == 10
    assert all("internal error: RuntimeError: grader bug" in f["error"] for f in doc["failures"])


def test_compare_shows_models_by_subject_with_best_worst_gap(run_cli, small_data, tmp_path, math500_path):
    db = tmp_path / "cmp.db"
    with scripted_server("--data", str(math500_path)) as strong, \
            scripted_server("--data", str(math500_path), "--correct-rate", "0.4") as weak:
        assert run_cli(*run_args(strong, small_data, db, "--run-name", "strong")).code == 0
        assert run_cli(*run_args(weak, small_data, db, "--run-name", "weak")).code == 0
    result = run_cli("compare", "strong", "weak", "--store", str(db), "--json", str(tmp_path / "c.json"))
    assert result.code == 0, result.err
    runs = {r["name"]: r for r in read_json(tmp_path / "c.json")["runs"]}
    problems = load_problems("math500", data_file=small_data)
    for name, rate in (("strong", 0.7), ("weak", 0.4)):
        by_subject = {}
        for p in problems:
            by_subject.setdefault(p.subject, []).append(scripted_outcome(p.problem, ScriptRates(correct=rate)) == "correct")
        assert runs[name]["by_subject"] == pytest.approx({s: sum(v) / len(v) for s, v in by_subject.items()})
    assert "best - worst" in result.out


def test_replicas_are_load_balanced_and_a_dead_one_is_routed_around(run_cli, small_data, tmp_path, math500_path):
    summary = tmp_path / "s.json"
    with scripted_server("--data", str(math500_path), "--latency", "0.02") as a, \
            scripted_server("--data", str(math500_path), "--latency", "0.02") as b:
        result = run_cli("run", "--model", "m", "--base-url", a.base_url, "--base-url", b.base_url,
                         "--data-file", str(small_data), "--store", str(tmp_path / "lb.db"), "--quiet",
                         "--concurrency", "4", "--summary-json", str(summary))
        served = (a.stats()["chat_requests"], b.stats()["chat_requests"])
    assert result.code == 0, result.err
    assert sum(served) == 40 and min(served) >= 10  # both replicas did real work
    assert read_json(summary)["correct"] == expected_counts(small_data)["correct"]

    with scripted_server("--data", str(math500_path)) as alive:
        result = run_cli("run", "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--base-url",
                         alive.base_url, "--data-file", str(small_data), "--store", str(tmp_path / "lb2.db"),
                         "--quiet", "--summary-json", str(summary))
        assert alive.stats()["chat_requests"] == 40
    assert result.code == 0, result.err
    assert "cannot be reached; routing around it" in result.err
    assert read_json(summary)["failed"] == 0 and read_json(summary)["n"] == 40


def test_extra_body_fields_reach_every_request_and_the_stored_config(run_cli, small_data, tmp_path, math500_path):
    db = tmp_path / "extra.db"
    with scripted_server("--data", str(math500_path), "--record-requests") as srv:
        result = run_cli(*run_args(srv, small_data, db, "--limit", "3", "--extra-body", "repeat_penalty=1.0",
                                   "--extra-body", "top_k=20", "--extra-body", "chat_template_kwargs={\"x\": 1}"))
        assert result.code == 0, result.err
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/requests", timeout=10) as resp:
            bodies = json.loads(resp.read())
    assert len(bodies) == 3
    assert all((b["repeat_penalty"], b["top_k"], b["chat_template_kwargs"]) == (1.0, 20, {"x": 1}) for b in bodies)
    (config,) = rows(db, "SELECT config_json FROM runs")
    assert json.loads(config[0])["sampling"]["extra_body"] == {"repeat_penalty": 1.0, "top_k": 20,
                                                               "chat_template_kwargs": {"x": 1}}


def test_model_name_is_stored_instead_of_the_endpoints_model_id(run_cli, server, small_data, tmp_path) -> None:
    # llama-cpp-python's server without --model_alias serves its model under the GGUF's path.
    db = tmp_path / "named.db"
    result = run_cli("run", "--model", "/models/qwen2.5-math-1.5b-q4_k_m.gguf", "--model-name", "qwen-1.5b-q4",
                     "--base-url", server.base_url, "--data-file", str(small_data), "--limit", "3", "--store", str(db),
                     "--quiet")
    assert result.code == 0, result.err
    with sqlite3.connect(db) as conn:
        name, model, sent = conn.execute("SELECT name, model, json_extract(config_json, '$.model') "
                                         "FROM runs").fetchone()
    requested = {json.loads(c["request_json"])["model"] for c in stored_calls(db)}
    assert model == "qwen-1.5b-q4" and name.startswith("qwen-1.5b-q4-math500-")
    assert sent == "/models/qwen2.5-math-1.5b-q4_k_m.gguf" and requested == {sent}  # the endpoint still gets its id
    resumed = run_cli("resume", name, "--store", str(db))
    assert resumed.code == 0 and "qwen-1.5b-q4" in resumed.out

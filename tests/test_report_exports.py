"""Exports beyond JSONL/CSV per sample: Parquet, one row per attempt, and lm-eval's samples_<task>.jsonl shape."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mathgauge.errors import MathgaugeError
from mathgauge.report import export_run
from mathgauge.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report_compare import write_run  # noqa: E402


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "x.db"
    items = [
        {"pid": "test/algebra/1.json", "subject": "Algebra", "level": 2, "gold": "5",
         "responses": [("\\boxed{5}", True, "stop"), ("\\boxed{4}", False, "stop"), ("\\boxed{5}", True, "stop")]},
        {"pid": "test/geometry/2.json", "subject": "Geometry", "level": 4, "gold": "\\frac{1}{2}",
         "responses": [("\\boxed{1/2}", True, "stop"), None, ("cut", False, "length")]},
    ]
    write_run(path, "r", "model-x", items, samples=3)
    return path


def test_parquet_per_sample_and_per_attempt(db: Path, tmp_path: Path) -> None:
    with Store(db) as store:
        assert export_run(store, "r", "parquet", tmp_path / "s.parquet").records == 6
        assert export_run(store, "r", "parquet", tmp_path / "a.parquet", attempts=True).records == 6
    table = pq.read_table(tmp_path / "s.parquet").to_pylist()
    assert [(r["problem_id"], r["sample_index"], r["grade"]) for r in table] == [
        ("test/algebra/1.json", 0, "correct"), ("test/algebra/1.json", 1, "incorrect"),
        ("test/algebra/1.json", 2, "correct"), ("test/geometry/2.json", 0, "correct"),
        ("test/geometry/2.json", 1, None), ("test/geometry/2.json", 2, "incorrect")]
    assert table[4]["sample_status"] == "failed" and json.loads(table[0]["prompt"])[0]["role"] == "user"
    calls = pq.read_table(tmp_path / "a.parquet").to_pylist()
    assert [c["error"] for c in calls].count("HTTP 500 (scripted)") == 1
    assert {c["run"] for c in calls} == {"r"} and calls[5]["finish_reason"] == "length"


def test_lm_eval_samples_shape(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "samples_math500.jsonl"
    with Store(db) as store:
        assert export_run(store, "r", "lm-eval-samples", out).records == 2
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    first = recs[0]
    for key in ("doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter", "metrics", "doc_hash",
                "prompt_hash", "target_hash", "exact_match"):
        assert key in first
    assert first["doc_id"] == 0 and first["target"] == "5" and first["doc"]["unique_id"] == "test/algebra/1.json"
    assert first["resps"] == [["\\boxed{5}", "\\boxed{4}", "\\boxed{5}"]]
    assert first["exact_match"] == pytest.approx(2 / 3)
    assert first["arguments"]["gen_args_0"]["arg_1"]["temperature"] == 0.0
    assert recs[1]["exact_match"] == pytest.approx(1 / 2)  # the failed sample is not graded
    assert recs[1]["filtered_resps"][1] == "[invalidanswer]"


def test_attempt_csv_and_export_errors(db: Path, tmp_path: Path) -> None:
    with Store(db) as store:
        assert export_run(store, "r", "csv", tmp_path / "a.csv", attempts=True).records == 6
    rows = list(csv.DictReader(open(tmp_path / "a.csv", encoding="utf-8")))
    assert len(rows) == 6 and rows[0]["attempt_index"] == "0"
    with Store(db) as store:
        with pytest.raises(MathgaugeError, match="unknown export format"):
            export_run(store, "r", "xlsx", tmp_path / "x")
        with pytest.raises(MathgaugeError, match="standard output"):
            export_run(store, "r", "parquet", "-")
        with pytest.raises(MathgaugeError, match="cannot write"):
            export_run(store, "r", "lm-eval-samples", tmp_path / "no" / "x.jsonl")
        with pytest.raises(MathgaugeError, match="no run"):
            export_run(store, "zzz", "jsonl", tmp_path / "x.jsonl")


def test_export_to_a_pipe_the_reader_closes_early_ends_quietly(tmp_path: Path) -> None:
    import os
    import subprocess

    db = tmp_path / "big.db"  # 1 MB of responses: far more than a pipe buffers
    write_run(db, "big", "m", [{"pid": f"p{i}", "subject": "Algebra", "level": 1, "gold": "1",
                                "responses": [("x" * 50_000 + " \\boxed{1}", True, "stop")]} for i in range(20)])
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "mathgauge.cli", "export", "big", "--store", str(db), "--output",
                             "-", "--attempts"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stdout.read(20)  # read a little, then hang up
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and b"Traceback" not in err, err.decode()[-2000:]

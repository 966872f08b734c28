"""Smoke test of the benchmark suite: `python -m bench --quick --sections pipeline` prints the table and writes JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_bench_quick_pipeline(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--sections", "pipeline", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = proc.stdout
    assert "section" in table and "how measured" in table
    assert "mathgauge" in table and "wall" in table and "first request" in table and "peak RSS" in table
    assert "skipped" in table  # peers not asked for
    doc = json.loads(out.read_text())
    assert doc["meta"]["quick"] is True and doc["meta"]["sections"] == ["pipeline"]
    sec = doc["sections"]["pipeline"]
    assert sec["status"] == "ok"
    cases = [k for k in sec["data"] if k != "section_wall_s"]
    assert len(cases) == 2
    for case in cases:
        mg = sec["data"][case]["mathgauge"]
        assert mg["wall_s"] > 0 and mg["ratio_to_floor"] > 0 and mg["peak_rss_mb"] > 0
        assert mg["first_request_s"] is not None and mg["first_request_s"] >= 0
    figures = {(r["tool"], r["figure"]) for r in sec["rows"]}
    assert ("mathgauge", "wall") in figures and ("mathgauge", "peak RSS") in figures


def test_bench_rejects_unknown_section() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", "--sections", "nope"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "unknown section" in proc.stderr


@pytest.mark.slow
def test_bench_quick_scale_prints_every_figure_of_issue_19(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--sections", "scale", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sec = json.loads(out.read_text())["sections"]["scale"]
    assert sec["status"] == "ok"
    figures = {r["figure"] for r in sec["rows"]}
    for figure in ("store size per response byte", "CPU per sample (run)", "mathgauge --version",
                   "report HTML size", "report peak RSS", "codec zlib level 6"):
        assert figure in figures, figure
    assert sum(f.startswith("pipeline ") and "bare" not in f for f in figures) == 2
    assert all(r["display"] and r["how"] for r in sec["rows"])


@pytest.mark.slow
def test_bench_quick_faults(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--sections", "faults", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    sec = json.loads(out.read_text())["sections"]["faults"]
    assert sec["status"] == "ok"
    figures = {(r["case"], r["figure"]): r for r in sec["rows"]}
    assert figures[("run killed, 3 processes resume it at once", "duplicate requests")]["value"] == 0
    assert sec["data"]["ctrl_c"]["runs"][0]["requests_after_signal"] == 0
    assert sec["data"]["storm"]["exit"] == 3 and sec["data"]["dead_endpoint"]["exit"] == 3
    assert "Ctrl-C -> exit" in proc.stdout and "duplicate requests" in proc.stdout

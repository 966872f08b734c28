"""No raw control character from model text, program output or a run's names reaches what `show`, `compare`,
`runs` and `report` print, nor the HTML report; `export` still gives back the exact stored text."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from mathgauge.report._text import neutralise

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report_compare import write_run  # noqa: E402

# C0 (but tab and newline), DEL, C1 (NEL included), bidi overrides and isolates, line and paragraph separators,
# invisible characters that hide text, lone surrogates
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
                 "\u200b\u2060-\u2064\ufeff\ud800-\udfff]")
EVIL = ("\x1b[2J\x1b[31mred\x1b[0m \u202eevil\u202c mark\u200f sep\u2028next\x85nel\x07bell\rreturn"
        " zero\u200bwidth bom\ufeff lone\ud800surrogate")


def _evil_store(tmp_path: Path) -> Path:
    db = tmp_path / "evil.db"
    items = [
        {"pid": "p\x1b[1m1", "subject": "Alg\u202eebra", "level": 1, "gold": "1\u2028", "problem": "What is\x85 1?",
         "responses": [(EVIL + " \\boxed{1}", True, "stop"), (EVIL, False, "stop")]},
        {"pid": "p2", "subject": "Algebra", "level": 2, "gold": "2",
         "responses": [None, ("\\boxed{2}", True, "stop")]},
    ]
    write_run(db, "evil\u202eA", "model\x1b]0;title\x07", items, samples=2)
    write_run(db, "plain", "model-b", items, samples=2)
    return db


def test_neutralise_makes_every_control_visible_and_keeps_text() -> None:
    out = neutralise(EVIL + "\ttab\nline\r\nwindows")
    assert RAW.search(out) is None
    assert "\\x1b[2J" in out and "\\u202e" in out and "\\u2028" in out and "\\x85" in out and "\\x07" in out
    assert "\\rreturn" in out.replace("\\x0d", "\\r") or "\\x0dreturn" in out
    assert out.endswith("\ttab\nline\nwindows")
    assert neutralise("plain $\\frac{1}{2}$ π ≤ 3") == "plain $\\frac{1}{2}$ π ≤ 3"


def test_show_runs_and_compare_print_no_raw_controls(run_cli, tmp_path: Path) -> None:
    db = _evil_store(tmp_path)
    for args in (["show", "evil\u202eA"], ["runs"], ["compare", "evil\u202eA", "plain"],
                 ["compare", "evil\u202eA", "plain", "--json", "-"]):
        result = run_cli(*args, "--store", str(db))
        assert result.code == 0, (args, result.err)
        assert RAW.search(result.out) is None, (args, [m.group() for m in RAW.finditer(result.out)])
        assert RAW.search(result.err) is None, args
    shown = run_cli("show", "evil\u202eA", "--store", str(db)).out
    assert "evil\\u202eA" in shown and "model\\x1b]0;title\\x07" in shown and "Alg\\u202eebra" in shown


def test_html_report_holds_no_raw_controls_and_export_keeps_the_exact_text(run_cli, tmp_path: Path) -> None:
    db = _evil_store(tmp_path)
    out = tmp_path / "r.html"
    result = run_cli("report", "evil\u202eA", "plain", "--store", str(db), "--output", str(out))
    assert result.code == 0, result.err
    assert RAW.search(result.out) is None and RAW.search(result.err) is None
    html = out.read_text(encoding="utf-8")
    assert RAW.search(html) is None, [m.group() for m in RAW.finditer(html)][:5]
    data = json.loads(html.split("id='samples-data'>", 1)[1].split("</script>", 1)[0])
    # JSON escapes would come back raw in the page: the data holds visible escapes instead
    for doc in (data["samples"], data["problems"], data["runs"]):
        assert RAW.search(json.dumps(doc, ensure_ascii=False)) is None
    first = data["samples"][0]
    assert first["resp"].startswith("\\x1b[2J\\x1b[31mred") and "\\u202eevil" in first["resp"]
    assert first["p"] == "p\\x1b[1m1" and data["problems"]["p\\x1b[1m1"]["gold"] == "1\\u2028"
    assert "evil\\u202eA" in html and "Alg\\u202eebra" in html
    exported = tmp_path / "e.jsonl"
    assert run_cli("export", "evil\u202eA", "--output", str(exported), "--store", str(db)).code == 0
    rows = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["response"] == EVIL + " \\boxed{1}" and rows[0]["problem_id"] == "p\x1b[1m1"


def test_csv_and_parquet_exports_write_a_lone_surrogate_as_its_escape(run_cli, tmp_path: Path) -> None:
    # No UTF-8 file holds a lone surrogate raw; formats without escapes write it as the text "\ud800".
    import csv

    import pyarrow.parquet as pq

    db = _evil_store(tmp_path)
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"e.{fmt}"
        result = run_cli("export", "evil\u202eA", "--format", fmt, "--output", str(out), "--store", str(db))
        assert result.code == 0, result.err
        rows = (list(csv.DictReader(out.open(encoding="utf-8"))) if fmt == "csv"
                else pq.read_table(out).to_pylist())
        assert "lone\\ud800surrogate" in rows[0]["response"], fmt

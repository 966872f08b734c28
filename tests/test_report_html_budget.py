"""The HTML report stays small whatever the run size: every sample's facts and a preview, full texts within the
budget (wrong answers first, spread over problems), the full data through `export`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from mathgauge.report.html import SampleBrowser
from mathgauge.store import RunRecord

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report_compare import write_run  # noqa: E402
from test_report_html import Browser, browser  # noqa: E402,F401  (the fixture)


def _long_items(math500_path: Path, problems: int, samples: int, chars: int) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in math500_path.read_text(encoding="utf-8").splitlines()[:problems]]
    prose = "\n\n".join(json.loads(line)["solution"] for line in math500_path.read_text(encoding="utf-8")
                        .splitlines()[:300])
    items = []
    for i, r in enumerate(rows):
        responses = []
        for k in range(samples):
            ok = (i + k) % 4 != 0
            start = (i * samples + k) * 97 % (len(prose) - chars)
            answer = r["answer"] if ok else "999"
            responses.append((f"[{i}/{k}] " + prose[start:start + chars] + f" So $\\boxed{{{answer}}}$.", ok, "stop"))
        items.append({"pid": r["unique_id"], "subject": r["subject"], "level": r["level"], "gold": r["answer"],
                      "problem": r["problem"], "responses": responses})
    return items


def _data(html: str) -> dict[str, Any]:
    return json.loads(html.split("id='samples-data'>", 1)[1].split("</script>", 1)[0])


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory, math500_path: Path) -> Path:
    db = tmp_path_factory.mktemp("budget") / "long.db"
    write_run(db, "long", "m", _long_items(math500_path, 60, 4, 5000), samples=4)
    return db


def test_budget_keeps_previews_for_all_and_full_texts_for_wrong_answers_first(run_cli, long_run: Path,
                                                                               tmp_path: Path) -> None:
    out, exported = tmp_path / "r.html", tmp_path / "all.jsonl"
    result = run_cli("report", "long", "--store", str(long_run), "--output", str(out), "--budget-mb", "0.3")
    assert result.code == 0, result.err
    html = out.read_text(encoding="utf-8")
    data = _data(html)
    assert len(html.encode("utf-8")) < 0.3e6 + 250_000  # the budget plus the page, charts and tables
    script = html.split("id='samples-data'>", 1)[1].split("</script>", 1)[0]
    assert len(script.encode("utf-8")) <= 0.3e6
    samples = data["samples"]
    assert len(samples) == 240  # every sample is in the browser
    full = [s for s in samples if "resp" in s]
    preview = [s for s in samples if "resp" not in s]
    assert full and preview
    wrong = [s for s in samples if s["v"] != "correct"]
    # wrong answers are taken first, one per problem before any problem's second
    if any(s["v"] == "correct" for s in full):
        assert all("resp" in s for s in wrong)
    full_wrong_problems = [s["p"] for s in full if s["v"] != "correct"]
    assert len(set(full_wrong_problems)) == min(len(full_wrong_problems), len({s["p"] for s in wrong}))
    exported_run = run_cli("export", "long", "--output", str(exported), "--store", str(long_run))
    assert exported_run.code == 0
    texts = {(r["problem_id"], r["sample_index"]): r["response"]
             for r in map(json.loads, exported.read_text(encoding="utf-8").splitlines())}
    for s in full:
        assert s["resp"] == texts[(s["p"], s["k"])] and s["len"] == len(s["resp"])
    for s in preview:  # the first and last characters: the answer is at the end
        text = texts[(s["p"], s["k"])]
        assert s["len"] == len(text) and text.startswith(s["head"]) and text.endswith(s["tail"])
        assert s["tail"].endswith("$.") and len(s["head"]) + len(s["tail"]) == data["preview_chars"]
    assert "every full text: mathgauge export RUN --format jsonl" in html
    # with the default budget this small run is embedded whole
    assert run_cli("report", "long", "--store", str(long_run), "--output", str(out)).code == 0
    assert all("resp" in s for s in _data(out.read_text(encoding="utf-8"))["samples"])


def test_preview_opens_in_headless_chromium(run_cli, long_run: Path, browser: Browser, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert run_cli("report", "long", "--store", str(long_run), "--output", str(out), "--budget-mb", "0.3").code == 0
    browser.get(out.as_uri())
    got = browser.js("""
        var sel = document.getElementById('f-verdict'); sel.value = 'correct'; sel.dispatchEvent(new Event('change'));
        var det = Array.from(document.querySelectorAll('#samples .sample details')).filter(function(d){
          return d.querySelector('summary').textContent.indexOf('first and last shown') >= 0; })[0];
        det.open = true;
        return {ready: document.body.getAttribute('data-ready'), summary: det.querySelector('summary').textContent,
                text: det.innerText};
    """)
    assert got["ready"] == "1"
    assert "first and last shown" in got["summary"]
    assert "characters not embedded in this report; the full text: mathgauge export long" in got["text"]
    assert "So 999" not in got["text"] and "So " in got["text"]  # a correct sample: its boxed answer is shown
    assert [e for e in browser.console() if e.get("level") == "SEVERE"] == []


def _rows(n_problems: int, samples: int, chars: int) -> list[dict[str, Any]]:
    return [{"problem_id": f"p{i}", "sample_index": k, "subject": "Algebra", "level": 1, "problem": "x" * 200,
             "gold_answer": "1", "sample_status": "done", "grade": "correct" if (i + k) % 3 else "incorrect",
             "extracted": "1", "method": "string", "reason": None, "error": None, "finish_reason": "stop",
             "completion_tokens": chars // 4, "latency_s": 1.0, "response": f"{i}/{k} " + "y" * chars}
            for i in range(n_problems) for k in range(samples)]


@pytest.mark.parametrize("problems,samples", [(50, 4), (500, 16), (2000, 32)])
def test_sample_data_stays_within_the_budget_whatever_the_run_size(problems: int, samples: int) -> None:
    run = RunRecord("id", "big", "math500", "m", "finished", None, {}, {}, 0.0, None, None, 0.0)
    budget = 400_000
    browser = SampleBrowser(max_samples=100_000, budget_bytes=budget)
    rows = _rows(problems, samples, 3000)
    index = browser.begin_run(run, [], [])
    for _ in browser.observe(index, rows):
        pass
    browser.plan()
    browser.fill(index, rows)
    size = len(json.dumps(browser.document(), ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    assert size <= budget * 1.02, size
    assert browser.embedded + browser.left_out == problems * samples
    if problems * samples > 1000:  # more samples than the budget holds facts for: the rest are left out, said so
        assert browser.left_out > 0 and "left out" in browser.note()
    else:
        assert browser.left_out == 0

"""The self-contained HTML report: one file, inline SVG charts and a small inline script for the sample browser
(no CDN, no network needed to view it)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from html import escape
from typing import Any

from ..store import RunRecord, SampleResult, Store
from ._compare import load_runs
from ._gap import GapAnalysis, analyse_gap
from ._plots import PALETTE, forest, grouped_bars, heatmap, histogram, lines_with_ci
from ._stats import wilson_interval
from ._summary import RunSummary, summarize

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:16px;
color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 7px;
vertical-align:top;text-align:left}th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.headline{font-size:20px}.acc{font-weight:bold;color:#17632a}.muted{color:#777}.warn{color:#a15c00}
.differs{background:#fff1e0}.same{background:#eef8ee}.unknown{color:#888}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}svg.chart{background:#fff;border:1px solid #eee}
#browser .controls{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:8px 0}
.sample{border:1px solid #ddd;border-radius:4px;margin:8px 0;padding:8px}
.sample .meta{font-size:12px;color:#555}.sample pre{white-space:pre-wrap;word-wrap:break-word;background:#fafafa;
padding:6px;margin:4px 0;font-size:12.5px;max-height:420px;overflow:auto}
.v-correct{color:#17632a;font-weight:bold}.v-incorrect{color:#b00020;font-weight:bold}
.v-no_answer{color:#a15c00;font-weight:bold}.v-failed,.v-pending{color:#666;font-weight:bold}
.math{font-family:Cambria Math,STIX Two Math,serif;background:#eef3fb;border-radius:2px;padding:0 2px}
.boxed{border:1px solid #17632a;padding:0 3px}
"""

_JS = r"""
(function(){
  'use strict';
  var data = JSON.parse(document.getElementById('samples-data').textContent);
  var problems = data.problems, runs = data.runs, rows = data.samples;
  var PAGE = 50, page = 0, filtered = rows;
  function $(id){ return document.getElementById(id); }
  function fill(sel, values, label){
    var o = document.createElement('option'); o.value = ''; o.textContent = 'all ' + label; sel.appendChild(o);
    values.forEach(function(v){ var x = document.createElement('option'); x.value = String(v[0]);
      x.textContent = v[1]; sel.appendChild(x); });
  }
  function uniq(key){ var s = {}; rows.forEach(function(r){ s[r[key]] = 1; }); return Object.keys(s).sort(); }
  fill($('f-run'), runs.map(function(r, i){ return [i, r.name + ' (' + r.model + ')']; }), 'runs');
  fill($('f-subject'), uniq('s').map(function(s){ return [s, s]; }), 'subjects');
  fill($('f-level'), uniq('l').map(function(s){ return [s, 'Level ' + s]; }), 'levels');
  fill($('f-verdict'), uniq('v').map(function(s){ return [s, s]; }), 'verdicts');
  var SYM = {'\\pi':'\u03c0','\\cdot':'\u00b7','\\times':'\u00d7','\\leq':'\u2264','\\le':'\u2264','\\geq':'\u2265',
    '\\ge':'\u2265','\\neq':'\u2260','\\pm':'\u00b1','\\infty':'\u221e','\\sqrt':'\u221a','\\theta':'\u03b8',
    '\\alpha':'\u03b1','\\beta':'\u03b2','\\circ':'\u00b0','\\div':'\u00f7','\\approx':'\u2248','\\in':'\u2208'};
  var SUP = {'0':'\u2070','1':'\u00b9','2':'\u00b2','3':'\u00b3','4':'\u2074','5':'\u2075','6':'\u2076',
    '7':'\u2077','8':'\u2078','9':'\u2079','-':'\u207b','n':'\u207f'};
  function sup(t){ var o = ''; for (var i = 0; i < t.length; i++){ if (!(t[i] in SUP)) return null; o += SUP[t[i]]; }
    return o; }
  function pretty(tex){
    var t = tex.replace(/\\(left|right|displaystyle)(?![A-Za-z])/g, '').replace(/\\[,;:!]/g, ' ')
      .replace(/\\(?:text|mathrm|textbf|mathbf|operatorname)\{([^{}]*)\}/g, '$1').replace(/\\[dt]frac/g, '\\frac')
      .replace(/\\(pi|cdot|times|leq|le|geq|ge|neq|pm|infty|theta|alpha|beta|circ|div|approx|in)(?![A-Za-z])/g,
        function(m){ return SYM[m] || m; });
    for (var k = 0; k < 4; k++){
      t = t.replace(/\\frac\{([^{}]*)\}\{([^{}]*)\}/g, function(m, a, b){
        var w = function(x){ return x.length > 1 ? '(' + x + ')' : x; }; return w(a) + '/' + w(b); })
        .replace(/\\sqrt\{([^{}]*)\}/g, '\u221a($1)').replace(/\\boxed\{([^{}]*)\}/g, '$1');
    }
    t = t.replace(/\^\{([^{}]*)\}|\^(\w)/g, function(m, a, b){ var x = a != null ? a : b; var s = sup(x);
      return s == null ? '^' + (x.length > 1 ? '(' + x + ')' : x) : s; });
    return t.replace(/\\sqrt(?![A-Za-z])/g, '\u221a');
  }
  // Text with $..$, $$..$$, \(..\), \[..\] shown as math spans (symbols prettified) and \boxed{} framed.
  function renderMath(el, text){
    var re = /(\$\$[\s\S]+?\$\$|\$[^$]+?\$|\\\([\s\S]+?\\\)|\\\[[\s\S]+?\\\]|\\boxed\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\})/g,
      last = 0, m;
    while ((m = re.exec(text)) !== null){
      if (m.index > last) el.appendChild(document.createTextNode(text.slice(last, m.index)));
      var span = document.createElement('span'); span.className = 'math';
      var inner = m[0].replace(/^\$\$|\$\$$|^\$|\$$|^\\\(|\\\)$|^\\\[|\\\]$/g, '');
      var bare = /^\\boxed\{/.test(m[0]);
      if (bare) inner = m[0].slice(7, -1);
      if (bare || inner.indexOf('\\boxed') >= 0) span.className += ' boxed';
      span.textContent = pretty(inner); el.appendChild(span); last = re.lastIndex;
    }
    if (last < text.length) el.appendChild(document.createTextNode(text.slice(last)));
  }
  function block(parent, label, text, math){
    var h = document.createElement('div'); h.className = 'meta'; h.textContent = label; parent.appendChild(h);
    var pre = document.createElement('pre');
    if (math === 'all'){ var sp = document.createElement('span'); sp.className = 'math'; sp.textContent = pretty(text || '');
      pre.appendChild(sp); }
    else if (math) renderMath(pre, text || ''); else pre.textContent = text || '';
    parent.appendChild(pre);
  }
  function apply(){
    var run = $('f-run').value, sub = $('f-subject').value, lev = $('f-level').value, ver = $('f-verdict').value;
    var q = $('f-text').value.toLowerCase();
    filtered = rows.filter(function(r){
      if (run !== '' && String(r.r) !== run) return false;
      if (sub !== '' && r.s !== sub) return false;
      if (lev !== '' && String(r.l) !== lev) return false;
      if (ver !== '' && r.v !== ver) return false;
      if (q && (problems[r.p].problem + ' ' + (r.resp || '') + ' ' + r.p).toLowerCase().indexOf(q) < 0) return false;
      return true;
    });
    page = 0; draw();
  }
  function draw(){
    var list = $('samples'); list.textContent = '';
    var pages = Math.max(1, Math.ceil(filtered.length / PAGE));
    $('count').textContent = filtered.length + ' of ' + rows.length + ' samples; page ' + (page + 1) + ' of ' + pages;
    filtered.slice(page * PAGE, page * PAGE + PAGE).forEach(function(r){
      var d = document.createElement('div'); d.className = 'sample';
      var head = document.createElement('div');
      var v = document.createElement('span'); v.className = 'v-' + r.v; v.textContent = r.v;
      head.appendChild(v);
      var meta = document.createElement('span'); meta.className = 'meta';
      meta.textContent = '  ' + r.p + ' #' + r.k + ' | ' + r.s + ' L' + r.l + ' | run ' + runs[r.r].name + ' (' +
        runs[r.r].model + ') | ' + (r.ct == null ? '' : r.ct + ' completion tokens | ') +
        (r.lat == null ? '' : r.lat.toFixed(2) + ' s | ') + 'calls ' + r.att + (r.fin ? ' | finish ' + r.fin : '');
      head.appendChild(meta); d.appendChild(head);
      block(d, 'Problem', problems[r.p].problem, true);
      block(d, 'Reference answer', problems[r.p].gold, 'all');
      block(d, 'Extracted answer', r.ext == null ? '(none)' : r.ext, r.ext == null ? false : 'all');
      block(d, 'Verdict', r.v + (r.m ? ' by ' + r.m : '') + (r.why ? ' (reason: ' + r.why + ')' : '') +
        (r.err ? ' error: ' + r.err : ''), false);
      var det = document.createElement('details'); var sm = document.createElement('summary');
      sm.textContent = 'Response (' + (r.resp ? r.resp.length : 0) + ' chars)'; det.appendChild(sm);
      block(det, '', r.resp || '(no response)', true); d.appendChild(det);
      (r.ex || []).forEach(function(e, i){
        var xd = document.createElement('details'); var xs = document.createElement('summary');
        xs.textContent = 'Execution ' + (i + 1) + ': ' + e.st + (e.ms == null ? '' : ', ' + Math.round(e.ms) + ' ms') +
          (e.unsafe ? ', UNSAFE' : '');
        xd.appendChild(xs); block(xd, 'code', e.code, false); block(xd, 'stdout', e.out, false);
        if (e.err) block(xd, 'stderr', e.err, false);
        d.appendChild(xd);
      });
      list.appendChild(d);
    });
  }
  ['f-run', 'f-subject', 'f-level', 'f-verdict'].forEach(function(id){ $(id).addEventListener('change', apply); });
  $('f-text').addEventListener('input', apply);
  $('prev').addEventListener('click', function(){ if (page > 0){ page--; draw(); } });
  $('next').addEventListener('click', function(){ if ((page + 1) * PAGE < filtered.length){ page++; draw(); } });
  apply();
  document.body.setAttribute('data-ready', '1');
})();
"""


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ci(lo: float, hi: float) -> str:
    return f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def _json_for_script(doc: Any) -> str:
    # no '<' at all inside the script element: nothing in the data can close it or open a comment
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def build_report(store: Store, refs: Sequence[str], *, max_samples: int = 5000,
                 regrade: bool = True) -> tuple[str, list[GapAnalysis]]:
    """Render the HTML report of the runs ``refs``; returns (html, the gap analysis of each run)."""
    loaded = load_runs(store, refs)
    rows_by_run = [list(store.export_rows(run.run_id)) for run, _ in loaded]
    executions = [_executions(store, run.run_id) for run, _ in loaded]
    summaries = [_summarize(store, run, results, ex) for (run, results), ex in zip(loaded, executions)]
    judges = [getattr(s, "judge", None) for s in summaries]
    gaps = [analyse_gap(run, results, rows, regrade=regrade)
            for (run, results), rows in zip(loaded, rows_by_run)]
    html = render_html(loaded, summaries, gaps, rows_by_run, max_samples=max_samples, executions=executions,
                       judges=judges)
    return html, gaps


def _executions(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The run's code executions (program-of-thought / tool use), when the store records them."""
    fetch = getattr(store, "executions", None)
    if fetch is None:
        return []
    try:
        return list(fetch(run_id))
    except Exception:  # an older store without the executions table
        return []


def _summarize(store: Store, run: RunRecord, results: list[SampleResult],
               executions: list[dict[str, Any]]) -> RunSummary:
    try:
        from ._summary import summarize_run
    except ImportError:
        return summarize(run, results)
    return summarize_run(store, run)


def render_html(loaded: Sequence[tuple[RunRecord, list[SampleResult]]], summaries: Sequence[RunSummary],
                gaps: Sequence[GapAnalysis], rows_by_run: Sequence[list[dict]], *, max_samples: int = 5000,
                executions: Sequence[list[dict[str, Any]]] | None = None,
                judges: Sequence[dict[str, Any] | None] | None = None) -> str:
    executions = executions or [[] for _ in loaded]
    judges = judges or [None for _ in loaded]
    names = [f"{s.run_name}" for s in summaries]
    parts: list[str] = []
    title = "mathgauge report: " + ", ".join(names)
    parts.append(f"<h1>{escape(title)}</h1><p class='muted'>generated {time.strftime('%Y-%m-%d %H:%M')} "
                 f"by mathgauge; self-contained (inline SVG, no network)</p>")
    parts.append(_headline(summaries, gaps))
    parts.append(_gap_section(gaps))
    parts.append(_comparison_section(loaded))
    parts.append(_breakdown_section(summaries))
    parts.append(_distribution_section(loaded, summaries, executions, judges))
    parts.append(_method_section(summaries))
    parts.append(_browser_section(loaded, rows_by_run, max_samples))
    data = _samples_doc(loaded, rows_by_run, max_samples, executions)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            "content='width=device-width, initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            + "".join(parts)
            + f"<script type='application/json' id='samples-data'>{_json_for_script(data)}</script>"
            + f"<script>{_JS}</script></body></html>")


def _headline(summaries: Sequence[RunSummary], gaps: Sequence[GapAnalysis]) -> str:
    out = ["<h2 id='headline'>Headline</h2><table id='headline-table'><tr><th>run</th><th>model</th>"
           "<th>benchmark</th><th>status</th><th>samples/problem</th><th>graded</th><th>correct</th>"
           "<th>accuracy</th><th>95% CI (Wilson)</th><th>no answer</th><th>truncated</th><th>failed</th>"
           "<th>pending</th><th>published figures (same benchmark)</th></tr>"]
    for s, g in zip(summaries, gaps):
        pub = [x.entry.score for x in g.gaps if x.entry.score is not None]
        pub_txt = ", ".join(f"{v:g}" for v in pub) if pub else "none in the registry"
        out.append(
            f"<tr class='run-row' data-run='{escape(s.run_name)}'><td>{escape(s.run_name)}</td>"
            f"<td>{escape(s.model)}</td>"
            f"<td>{escape(s.benchmark)}</td><td>{escape(s.status)}</td><td class='num'>{s.samples_per_problem}</td>"
            f"<td class='num'>{s.n}</td><td class='num'>{s.correct}</td>"
            f"<td class='num acc'>{_pct(s.accuracy)}</td><td class='num'>{_ci(*s.ci95)}</td>"
            f"<td class='num'>{s.no_answer}</td><td class='num'>{s.truncated}</td><td class='num'>{s.failed}</td>"
            f"<td class='num'>{s.pending}</td><td>{escape(pub_txt)}</td></tr>")
    out.append("</table>")
    for s in summaries:
        if s.accuracy is not None:
            out.append(f"<p class='headline'>{escape(s.run_name)}: <span class='acc'>{_pct(s.accuracy)}</span> "
                       f"({s.correct}/{s.n}), 95% CI {_ci(*s.ci95)}</p>")
    return "".join(out)


def _accuracy_series(cells: dict[str, Any], keys: Sequence[str]
                     ) -> tuple[list[float | None], list[tuple[float, float] | None]]:
    """Accuracy and Wilson interval per key (``None`` where a run has no graded sample there)."""
    vals: list[float | None] = []
    cis: list[tuple[float, float] | None] = []
    for key in keys:
        c = cells.get(key)
        vals.append(c.accuracy if c and c.n else None)
        cis.append(wilson_interval(c.correct, c.n) if c and c.n else None)
    return vals, cis


def _method_section(summaries: Sequence[RunSummary]) -> str:
    """Samples per problem (avg@k / pass@k / maj@k against k), self-verification, regeneration, difficulty trend:
    only the parts the runs have."""
    out: list[str] = []
    for s in summaries:
        trend = s.difficulty_trend
        if trend is not None:
            out.append(f"<p>{escape(s.run_name)}: difficulty trend (Spearman correlation of level and accuracy) "
                       f"<b>{trend:+.2f}</b></p>")
        m = s.sampling
        if m is not None:
            ks = [str(p["k"]) for p in m.curve]
            curves = [(name, [p[key] for p in m.curve], [None] * len(m.curve))
                      for name, key in (("avg@k", "avg"), ("pass@k", "pass"), ("maj@k", "maj"))]
            out.append("<div class='charts'>" + lines_with_ci(
                ks, curves, title=f"{s.run_name}: accuracy against k samples per problem") + "</div>")
            out.append("<table class='sampling'><tr><th>metric</th><th>value</th><th>95% CI (bootstrap)</th></tr>"
                       + "".join(f"<tr><td>{name}@{m.k}</td><td class='num'>{_pct(e.value)}</td>"
                                 f"<td class='num'>{_ci(*e.ci95)}</td></tr>"
                                 for name, e in (("avg", m.avg), ("pass", m.pass_k), ("maj", m.maj)))
                       + "</table>")
        if s.verification:
            out.append(f"<p>{escape(s.run_name)}: self-verification: {escape(s.verification_sentence() or '')}</p>")
        if s.regeneration:
            out.append(f"<p>{escape(s.run_name)}: regeneration: {escape(s.regeneration_sentence() or '')}</p>")
    if not out:
        return ""
    return "<h2 id='method'>Sampling, verification and regeneration</h2>" + "".join(out)


def _cls(differs: bool | None) -> str:
    return "unknown" if differs is None else ("differs" if differs else "same")


def _gap_section(gaps: Sequence[GapAnalysis]) -> str:
    out = ["<h2 id='gap'>Measured vs published, and why they differ</h2>"
           "<p class='muted'>Every published figure for the run's model on the run's benchmark, one row per source "
           "(sources disagree; none is picked). MATH and MATH-500 figures are never compared. 'Settings' lists what "
           "differs between the run and the source: orange = differs, green = same, grey = the source does not "
           "say.</p>"]
    for g in gaps:
        acc = "-" if g.accuracy is None else f"{g.accuracy:.1f}"
        out.append(f"<h3>{escape(g.run_name)} ({escape(g.model)}) on {escape(g.benchmark)}: measured {acc} "
                   f"[{g.ci95[0]:.1f}, {g.ci95[1]:.1f}]</h3>")
        if g.caveat:
            out.append(f"<p class='warn'>Caveat: {escape(g.caveat)}</p>")
        if g.policies:
            out.append("<table class='policies'><tr><th>grading policy</th><th>correct</th><th>accuracy</th>"
                       "<th>vs mathgauge rules</th></tr>")
            base = g.policies.get("rules", {}).get("accuracy")
            for name, p in g.policies.items():
                delta = "" if base is None or p["accuracy"] is None else f"{p['accuracy'] - base:+.1f}"
                out.append(f"<tr data-policy='{escape(name)}'><td>{escape(p['description'])}</td>"
                           f"<td class='num'>{p['correct']}/{p['n']}</td>"
                           f"<td class='num'>{p['accuracy']:.1f}</td><td class='num'>{delta}</td></tr>")
            out.append("</table>")
            effect = g.grader_effect()
            if effect:
                out.append(f"<p class='grader-effect'>{escape(effect)}</p>")
            if g.accuracy is not None:
                vals = [p["accuracy"] / 100 for p in g.policies.values()]
                out.append("<div class='charts'>" + grouped_bars(
                    list(g.policies), [(g.run_name, vals, None)],
                    title=f"{g.run_name}: accuracy under each grading policy", cls="bars policies-chart") + "</div>")
        if not g.gaps:
            other = "; ".join(f"{k}: {v}" for k, v in g.other_benchmarks.items())
            out.append("<p>No published figure for this model on this benchmark in mathgauge's registry"
                       + (f" (figures on other benchmarks, not comparable: {escape(other)})" if other else "")
                       + ".</p>")
            continue
        rows = [(f"measured: {g.run_name}", g.accuracy, g.ci95, PALETTE[0])]
        for x in g.gaps:
            other = " [other snapshot]" if x.same_snapshot is False else ""
            rows.append((f"{x.entry.source_date} {x.entry.metric} ({x.entry.provenance}){other}", x.entry.score,
                         None, PALETTE[1]))
        out.append("<div class='charts'>" + forest(rows, title=f"{g.run_name} vs published {g.benchmark} figures",
                                                   band=g.ci95 if g.accuracy is not None else None) + "</div>")
        out.append("<table class='published'><tr><th>source</th><th>date</th><th>published</th>"
                   "<th>measured - published</th><th>metric</th><th>mode</th><th>grader</th>"
                   "<th>settings (run | source)</th><th>closest peer grading policy</th></tr>")
        for x in g.gaps:
            e = x.entry
            links = "<br>".join(f"<a href='{escape(u)}'>{escape(u)}</a>" if u.startswith("http") else escape(u)
                                for u in e.source_urls)
            pub = "no published number" if e.score is None else f"{e.score:g}"
            diff = "-" if x.diff is None else f"{x.diff:+.1f}" + (" (inside the run's CI)" if x.inside_ci else "")
            snap = "" if x.same_snapshot is None else (" same snapshot" if x.same_snapshot else
                                                       " <span class='warn'>other snapshot</span>")
            settings = "".join(f"<div class='{_cls(s.differs)}'><b>{escape(s.setting)}</b>: {escape(s.run)} | "
                               f"{escape(s.published)}</div>" for s in x.settings)
            closest = "-"
            if x.closest_policy and x.closest_policy_diff is not None:
                closest = f"{x.closest_policy}: {x.closest_policy_diff:+.1f} vs published"
            out.append(f"<tr class='published-row'><td>{links}<div class='muted'>{escape(e.model)}; "
                       f"{escape(e.provenance)}{snap}</div><div class='muted'>{escape(e.notes)}</div></td>"
                       f"<td>{escape(e.source_date)}</td><td class='num'>{pub}</td><td class='num'>{diff}</td>"
                       f"<td>{escape(e.metric)}</td><td>{escape(e.mode)}</td>"
                       f"<td>{escape(e.grader or 'not stated')}</td>"
                       f"<td>{settings}</td><td>{escape(closest)}</td></tr>")
        out.append("</table>")
        if g.other_benchmarks:
            other = "; ".join(f"{k}: {v}" for k, v in g.other_benchmarks.items())
            out.append(f"<p class='muted'>Not comparable (other benchmarks): {escape(other)}</p>")
    return "".join(out)


def _comparison_section(loaded: Sequence[tuple[RunRecord, list[SampleResult]]]) -> str:
    """Paired comparison of every two runs that share a benchmark and problems (nothing for a single run)."""
    from ..errors import MathgaugeError
    from ._compare import compare_loaded

    rows, notes = [], []
    for i in range(len(loaded)):
        for j in range(i + 1, len(loaded)):
            a, b = loaded[i][0], loaded[j][0]
            if a.benchmark != b.benchmark:
                notes.append(f"{a.name} vs {b.name}: different benchmarks ({a.benchmark}, {b.benchmark}), "
                             "not compared")
                continue
            try:
                comp = compare_loaded([loaded[i], loaded[j]], n_boot=1000, seed=0)
            except MathgaugeError as exc:
                notes.append(f"{a.name} vs {b.name}: {exc}")
                continue
            pc = comp.pairs[0]
            rows.append(f"<tr class='pair-row'><td>{escape(pc.a)}</td><td>{escape(pc.b)}</td>"
                        f"<td class='num'>{comp.shared_problems}</td>"
                        f"<td class='num'>{_pct(pc.acc_a)}</td><td class='num'>{_pct(pc.acc_b)}</td>"
                        f"<td class='num'>{100 * pc.diff:+.1f}</td>"
                        f"<td class='num'>[{100 * pc.ci95[0]:+.1f}, {100 * pc.ci95[1]:+.1f}]</td>"
                        f"<td class='num'>{pc.a_only} / {pc.b_only}</td><td class='num'>{pc.p_value:.3g}</td>"
                        f"<td>{_solved_lists(pc)}</td></tr>")
            pair = f"{a.name} vs {b.name}"
            notes.extend(w if w.startswith(pair) else f"{pair}: {w}" for w in comp.warnings)
    if not rows and not notes:
        return ""
    out = ["<h2 id='comparison'>Paired comparison</h2>"]
    if rows:
        out.append("<table class='pairs'><tr><th>A</th><th>B</th><th>shared problems</th><th>A</th><th>B</th>"
                   "<th>A - B (points)</th><th>95% CI (paired bootstrap)</th><th>solved by A only / B only</th>"
                   "<th>exact McNemar p</th><th>problems solved by one only</th></tr>" + "".join(rows) + "</table>")
    if notes:
        out.append("<ul class='warn'>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    return "".join(out)


def _solved_lists(pc: Any, limit: int = 200) -> str:
    out = []
    for name, items in ((pc.a, pc.only_a), (pc.b, pc.only_b)):
        if not items:
            continue
        shown = ", ".join(f"{x['problem_id']} ({x['subject']} L{x['level']})" for x in items[:limit])
        more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
        out.append(f"<details><summary>{escape(name)} only: {len(items)}</summary>{escape(shown + more)}</details>")
    return "".join(out)


def _breakdown_section(summaries: Sequence[RunSummary]) -> str:
    out = ["<h2 id='breakdown'>By subject and level</h2><div class='charts'>"]
    for s in summaries:
        rows = list(s.by_subject)
        cols = list(s.by_level)
        cells = {k: (c.correct, c.n) for k, c in s.grid.items()}
        out.append(heatmap(rows, [f"L{c}" for c in cols], {(r, f"L{c}"): cells.get((r, c), (0, 0))
                                                            for r in rows for c in cols},
                           title=f"{s.run_name}: accuracy by subject x level (correct/n)"))
    levels = sorted({lv for s in summaries for lv in s.by_level})
    series = [(s.run_name, *_accuracy_series(s.by_level, levels)) for s in summaries]
    out.append(lines_with_ci([f"L{lv}" for lv in levels], series, title="Accuracy vs level (95% CI)"))
    subjects: list[str] = []
    for s in summaries:
        subjects += [x for x in s.by_subject if x not in subjects]
    bars = [(s.run_name, *_accuracy_series(s.by_subject, subjects)) for s in summaries]
    out.append(grouped_bars(subjects, bars, title="Accuracy by subject (95% CI)", cls="bars subjects-chart"))
    out.append("</div>")
    return "".join(out)


def _distribution_section(loaded: Sequence[tuple[RunRecord, list[SampleResult]]],
                          summaries: Sequence[RunSummary], executions: Sequence[list[dict[str, Any]]],
                          judges: Sequence[dict[str, Any] | None]) -> str:
    out = ["<h2 id='distributions'>Tokens, latency, attempts, executions and failures</h2><div class='charts'>"]
    # Samples whose tokens are unknown (a server that reports no usage) are left out, not counted as 0.
    tokens = [(run.name, [r.completion_tokens for r in res if r.attempts and r.completion_tokens is not None])
              for run, res in loaded]
    out.append(histogram(tokens, title="Completion tokens per sample", unit="tokens", log=True))
    lat = [(run.name, [r.latency_s for r in res if r.latency_s is not None]) for run, res in loaded]
    out.append(histogram(lat, title="Latency of the final call", unit="seconds"))
    counts = [Counter(r.attempts for r in res) for _, res in loaded]
    keys = sorted({k for c in counts for k in c})
    out.append(grouped_bars([str(k) for k in keys],
                            [(run.name, [float(c.get(k, 0)) for k in keys], None)
                             for (run, _), c in zip(loaded, counts)],
                            title="Model calls per sample", percent=False, cls="bars attempts-chart"))
    tries = [getattr(s, "tries_distribution", {}) or {} for s in summaries]
    if any(len(t) > 1 or any(k > 1 for k in t) for t in tries):
        tkeys = sorted({k for t in tries for k in t})
        out.append(grouped_bars([str(k) for k in tkeys],
                                [(s.run_name, [float(t.get(k, 0)) for k in tkeys], None)
                                 for s, t in zip(summaries, tries)],
                                title="Tries used per sample (attempts mode)", percent=False, cls="bars tries-chart"))
    if any(executions):
        out.append(histogram([(run.name, [float(e["duration_ms"]) for e in ex]) for (run, _), ex in
                              zip(loaded, executions)], title="Code execution time", unit="ms", log=True,
                             cls="hist exec-chart"))
    for s, j in zip(summaries, judges):
        if j and j.get("scores"):
            keys_ = list(j["scores"])
            out.append(grouped_bars([str(k) for k in keys_], [(s.run_name, [float(j["scores"][k]) for k in keys_],
                                                               None)],
                                    title=f"{s.run_name}: judge score distribution", percent=False,
                                    cls="bars judge-chart"))
    out.append("</div><table id='failures'><tr><th>run</th><th>no answer</th><th>truncated (hit max_tokens)</th>"
               "<th>failed</th><th>pending</th><th>retries</th><th>from cache</th><th>code executions</th>"
               "<th>unsafe code</th><th>execution time p50 / p95</th><th>judge vs rules</th></tr>")
    for s, ex, j in zip(summaries, executions, judges):
        unsafe = sum(1 for e in ex if e.get("unsafe"))
        statuses = Counter(e.get("status") for e in ex)
        times = sorted(float(e["duration_ms"]) for e in ex)
        p = (lambda q: times[min(len(times) - 1, int(q * len(times)))]) if times else None
        exec_txt = (f"{len(ex)} (" + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items(), key=str)) + ")"
                    if ex else "none recorded")
        time_txt = f"{p(0.5):.0f} ms / {p(0.95):.0f} ms" if p else "-"
        if j:
            agree = j.get("agreement") or {}
            kappa = "undefined" if agree.get("kappa") is None else f"{agree['kappa']:.3f}"
            observed = "-" if agree.get("observed") is None else f"{100 * agree['observed']:.1f}%"
            judge_txt = (f"{j.get('judged', 0)} judged; agreement {observed} over {agree.get('n_scored', 0)} scored "
                         f"(Cohen's kappa {kappa}); {len(agree.get('disagreements') or [])} disagreements")
        else:
            judge_txt = "no judge grades"
        out.append(f"<tr><td>{escape(s.run_name)}</td><td class='num'>{s.no_answer}</td>"
                   f"<td class='num'>{s.truncated}</td><td class='num'>{s.failed}</td><td class='num'>{s.pending}</td>"
                   f"<td class='num'>{s.retries}</td><td class='num'>{s.cached}</td><td>{escape(exec_txt)}</td>"
                   f"<td class='num'>{unsafe if ex else '-'}</td><td>{escape(time_txt)}</td>"
                   f"<td>{escape(judge_txt)}</td></tr>")
    out.append("</table>")
    for s, j in zip(summaries, judges):
        matrix = (j.get("agreement") or {}).get("matrix") if j else None
        if matrix:
            cols = list(next(iter(matrix.values())))
            out.append(f"<table class='judge-matrix'><caption>{escape(s.run_name)}: rule verdict (rows) vs judge "
                       "score (columns)</caption><tr><th></th>" + "".join(f"<th>{escape(c)}</th>" for c in cols)
                       + "</tr>" + "".join(
                           f"<tr><th>{escape(r)}</th>" + "".join(f"<td class='num'>{row[c]}</td>" for c in cols)
                           + "</tr>" for r, row in matrix.items()) + "</table>")
    errors = Counter(e for s in summaries for _, _, e in s.failures)
    if errors:
        out.append("<table id='failure-reasons'><tr><th>failure</th><th>samples</th></tr>" + "".join(
            f"<tr><td>{escape(e)}</td><td class='num'>{n}</td></tr>" for e, n in errors.most_common(20)) + "</table>")
    return "".join(out)


def _browser_section(loaded: Sequence[tuple[RunRecord, list[SampleResult]]], rows_by_run: Sequence[list[dict]],
                     max_samples: int) -> str:
    total = sum(len(r) for r in rows_by_run)
    shown = sum(min(len(r), max_samples) for r in rows_by_run)
    note = "" if shown == total else f" (first {max_samples} samples per run embedded; {total - shown} left out)"
    return ("<h2 id='browser-title'>Samples</h2><div id='browser'><div class='controls'>"
            "<select id='f-run'></select><select id='f-subject'></select><select id='f-level'></select>"
            "<select id='f-verdict'></select><input id='f-text' type='search' placeholder='search text or id'>"
            "<button id='prev' type='button'>previous</button><button id='next' type='button'>next</button>"
            f"<span id='count'></span><span class='muted'>{escape(note)}</span></div>"
            "<div id='samples'></div></div>")


def _verdict(row: dict) -> str:
    if row.get("sample_status") == "failed":
        return "failed"
    return row.get("grade") or "pending"


_CODE_CHARS = 4000


def _samples_doc(loaded: Sequence[tuple[RunRecord, list[SampleResult]]], rows_by_run: Sequence[list[dict]],
                 max_samples: int, executions: Sequence[list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    problems: dict[str, dict[str, str]] = {}
    samples = []
    attempts = []
    execs: list[dict[tuple[str, int], list[dict[str, Any]]]] = []
    for (run, results) in loaded:
        attempts.append({(r.problem_id, r.sample_index): r.attempts for r in results})
    for ex in executions or [[] for _ in loaded]:
        by_sample: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for e in ex:
            by_sample.setdefault((e["problem_id"], e["sample_index"]), []).append({
                "code": (e.get("code") or "")[:_CODE_CHARS], "out": (e.get("stdout") or "")[:_CODE_CHARS],
                "err": (e.get("stderr") or "")[:_CODE_CHARS], "st": e.get("status"),
                "ms": e.get("duration_ms"), "unsafe": bool(e.get("unsafe"))})
        execs.append(by_sample)
    for i, rows in enumerate(rows_by_run):
        for row in rows[:max_samples]:
            pid = row["problem_id"]
            problems.setdefault(pid, {"problem": row.get("problem") or "", "gold": row.get("gold_answer") or ""})
            lat = row.get("latency_s")
            samples.append({
                "r": i, "p": pid, "k": row["sample_index"], "s": row.get("subject") or "?",
                "l": row.get("level") if row.get("level") is not None else "?", "v": _verdict(row),
                "ext": row.get("extracted"), "m": row.get("method"), "why": row.get("reason"),
                "err": row.get("error"), "fin": row.get("finish_reason"), "ct": row.get("completion_tokens"),
                "lat": None if lat is None else round(float(lat), 3), "resp": row.get("response"),
                "att": attempts[i].get((pid, row["sample_index"]), 0),
            })
            ex = execs[i].get((pid, row["sample_index"])) if i < len(execs) else None
            if ex:
                samples[-1]["ex"] = ex
    return {"runs": [{"name": run.name, "model": run.model, "run_id": run.run_id} for run, _ in loaded],
            "problems": problems, "samples": samples}

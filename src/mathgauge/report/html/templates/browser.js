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
  // A response is embedded whole (resp) or as its first and last characters (head, tail) with its length.
  function responseText(r){ return r.resp != null ? r.resp : (r.head || '') + ' ' + (r.tail || ''); }
  function response(parent, r){
    var det = document.createElement('details'); var sm = document.createElement('summary');
    var whole = r.resp != null;
    sm.textContent = 'Response (' + r.len + ' chars' + (whole ? '' : ', first and last shown') + ')';
    det.appendChild(sm);
    if (whole) block(det, '', r.resp || '(no response)', true);
    else {
      block(det, '', r.head, true);
      block(det, '', '[... ' + (r.len - r.head.length - r.tail.length) + ' characters not embedded in this ' +
        'report; the full text: mathgauge export ' + runs[r.r].name + ' --format jsonl --output FILE ...]', false);
      block(det, '', r.tail, true);
    }
    parent.appendChild(det);
  }
  function apply(){
    var run = $('f-run').value, sub = $('f-subject').value, lev = $('f-level').value, ver = $('f-verdict').value;
    var q = $('f-text').value.toLowerCase();
    filtered = rows.filter(function(r){
      if (run !== '' && String(r.r) !== run) return false;
      if (sub !== '' && r.s !== sub) return false;
      if (lev !== '' && String(r.l) !== lev) return false;
      if (ver !== '' && r.v !== ver) return false;
      if (q && (problems[r.p].problem + ' ' + responseText(r) + ' ' + r.p).toLowerCase().indexOf(q) < 0) return false;
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
      response(d, r);
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

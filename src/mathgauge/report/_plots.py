"""Small inline-SVG charts for the HTML report (grouped bars with CI whiskers, lines with CI bands, heatmaps,
histograms). Each function returns one ``<svg>`` element as a string; no scripts, no external resources."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _t(x: float) -> str:
    return f"{x:.1f}"


def _svg(width: int, height: int, body: list[str], title: str, cls: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {cls}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>' + "".join(body) + "</svg>")


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    out = []
    for i, name in enumerate(names):
        yy = y + 16 * i
        out.append(f'<rect x="{_t(x)}" y="{_t(yy - 9)}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{_t(x + 14)}" y="{_t(yy)}" font-size="11">{escape(name)}</text>')
    return out


def _y_axis(x0: float, y0: float, h: float, w: float, ymax: float, percent: bool) -> list[str]:
    out = []
    for i in range(5):
        v = ymax * i / 4
        y = y0 + h - h * i / 4
        label = f"{100 * v:.0f}%" if percent else (f"{v:.0f}" if ymax >= 20 else f"{v:.2g}")
        out.append(f'<line x1="{_t(x0)}" y1="{_t(y)}" x2="{_t(x0 + w)}" y2="{_t(y)}" stroke="#ddd"/>'
                   f'<text x="{_t(x0 - 4)}" y="{_t(y + 4)}" font-size="10" text-anchor="end">{label}</text>')
    return out


def grouped_bars(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float | None],
                 Sequence[tuple[float, float] | None] | None]], *, title: str, percent: bool = True,
                 ymax: float | None = None, width: int | None = None, cls: str = "bars") -> str:
    """Vertical grouped bars: one group per category, one bar per series, optional (lo, hi) whiskers."""
    n_series = max(1, len(series))
    group_w = max(44, 16 * n_series + 12)
    left, top, bottom = 48, 28, 90
    w = max(320, len(categories) * group_w)
    width = width or (left + w + 150)
    height = 300
    h = height - top - bottom
    values = [v for _, vals, _ in series for v in vals if v is not None]
    whisk = [hi for _, _, cis in series if cis for ci in cis if ci for hi in ci[1:]]
    ymax = ymax or (1.0 if percent else max(values + whisk + [1e-9]) * 1.1)
    body = [f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    body += _y_axis(left, top, h, w, ymax, percent)
    bar_w = (group_w - 10) / n_series
    for ci_, cat in enumerate(categories):
        gx = left + ci_ * group_w + 5
        for si, (name, vals, cis) in enumerate(series):
            v = vals[ci_]
            if v is None:
                continue
            x = gx + si * bar_w
            bh = h * min(v, ymax) / ymax
            color = PALETTE[si % len(PALETTE)]
            label = f"{100 * v:.1f}%" if percent else f"{v:.4g}"
            body.append(f'<rect class="bar" x="{_t(x)}" y="{_t(top + h - bh)}" width="{_t(bar_w - 1)}" '
                        f'height="{_t(bh)}" fill="{color}"><title>{escape(name)} / {escape(cat)}: {label}'
                        f'</title></rect>')
            if bar_w >= 28:
                ytop = top + h - bh
                if cis and cis[ci_]:
                    ytop = min(ytop, top + h - h * min(cis[ci_][1], ymax) / ymax)
                body.append(f'<text class="value" x="{_t(x + (bar_w - 1) / 2)}" y="{_t(ytop - 3)}" '
                            f'font-size="9" text-anchor="middle">{label}</text>')
            if cis and cis[ci_]:
                lo, hi = cis[ci_]
                cx = x + (bar_w - 1) / 2
                y1, y2 = top + h - h * lo / ymax, top + h - h * min(hi, ymax) / ymax
                body.append(f'<line x1="{_t(cx)}" y1="{_t(y1)}" x2="{_t(cx)}" y2="{_t(y2)}" stroke="#222"/>'
                            f'<line x1="{_t(cx - 3)}" y1="{_t(y1)}" x2="{_t(cx + 3)}" y2="{_t(y1)}" stroke="#222"/>'
                            f'<line x1="{_t(cx - 3)}" y1="{_t(y2)}" x2="{_t(cx + 3)}" y2="{_t(y2)}" stroke="#222"/>')
        lx = gx + (group_w - 10) / 2
        body.append(f'<text x="{_t(lx)}" y="{_t(top + h + 12)}" font-size="10" text-anchor="end" '
                    f'transform="rotate(-35 {_t(lx)} {_t(top + h + 12)})">{escape(cat)}</text>')
    if len(series) > 1:
        body += _legend([s[0] for s in series], left + w + 12, top + 10)
    return _svg(width, height, body, title, cls)


def lines_with_ci(xs: Sequence[str], series: Sequence[tuple[str, Sequence[float | None],
                  Sequence[tuple[float, float] | None]]], *, title: str, cls: str = "lines") -> str:
    """Accuracy (0-1) against a categorical x axis, one line per series, shaded 95% CI band and whiskers."""
    left, top, h, step = 48, 28, 200, 70
    w = max(260, step * max(1, len(xs) - 1) + 40)
    width, height = left + w + 160, top + h + 40
    body = [f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    body += _y_axis(left, top, h, w, 1.0, True)

    def px(i: int) -> float:
        return left + 20 + i * step

    def py(v: float) -> float:
        return top + h - h * v

    for i, x in enumerate(xs):
        body.append(f'<text x="{_t(px(i))}" y="{_t(top + h + 16)}" font-size="11" text-anchor="middle">'
                    f'{escape(x)}</text>')
    for si, (name, vals, cis) in enumerate(series):
        color = PALETTE[si % len(PALETTE)]
        pts = [(px(i), py(v)) for i, v in enumerate(vals) if v is not None]
        band_hi = [(px(i), py(ci[1])) for i, ci in enumerate(cis) if ci and vals[i] is not None]
        band_lo = [(px(i), py(ci[0])) for i, ci in enumerate(cis) if ci and vals[i] is not None]
        if len(band_hi) > 1:
            poly = " ".join(f"{_t(x)},{_t(y)}" for x, y in band_hi + band_lo[::-1])
            body.append(f'<polygon points="{poly}" fill="{color}" fill-opacity="0.12" stroke="none"/>')
        if len(pts) > 1:
            body.append(f'<polyline points="{" ".join(f"{_t(x)},{_t(y)}" for x, y in pts)}" fill="none" '
                        f'stroke="{color}" stroke-width="2"/>')
        for i, v in enumerate(vals):
            if v is None:
                continue
            ci = cis[i]
            if ci:
                body.append(f'<line x1="{_t(px(i))}" y1="{_t(py(ci[0]))}" x2="{_t(px(i))}" y2="{_t(py(ci[1]))}" '
                            f'stroke="{color}"/>')
            body.append(f'<circle class="point" cx="{_t(px(i))}" cy="{_t(py(v))}" r="3.5" fill="{color}">'
                        f'<title>{escape(name)} {escape(xs[i])}: {100 * v:.1f}%'
                        + (f' [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]' if ci else "") + '</title></circle>')
    body += _legend([s[0] for s in series], left + w + 12, top + 10)
    return _svg(width, height, body, title, cls)


def _heat_color(v: float) -> str:
    # red (0) -> yellow (0.5) -> green (1)
    v = min(1.0, max(0.0, v))
    if v < 0.5:
        r, g = 230, int(80 + 300 * v)
    else:
        r, g = int(230 - 360 * (v - 0.5)), 230
    return f"rgb({r},{min(g, 230)},90)"


def heatmap(rows: Sequence[str], cols: Sequence[str], cells: dict[tuple[str, str], tuple[int, int]], *,
            title: str, cls: str = "heatmap") -> str:
    """Accuracy per (row, col) cell from (correct, n) counts; each cell shows 'acc% / correct/n'."""
    left, top, cw, ch = 170, 40, 78, 34
    width, height = max(left + cw * len(cols) + 20, 7 * len(title) + 20), top + ch * len(rows) + 20
    body = [f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    for j, c in enumerate(cols):
        body.append(f'<text x="{_t(left + j * cw + cw / 2)}" y="{top - 6}" font-size="11" text-anchor="middle">'
                    f'{escape(c)}</text>')
    for i, r in enumerate(rows):
        y = top + i * ch
        body.append(f'<text x="{left - 6}" y="{_t(y + ch / 2 + 4)}" font-size="11" text-anchor="end">'
                    f'{escape(r)}</text>')
        for j, c in enumerate(cols):
            x = left + j * cw
            correct, n = cells.get((r, c), (0, 0))
            if n == 0:
                body.append(f'<rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" fill="#f2f2f2"/>')
                continue
            acc = correct / n
            body.append(f'<rect class="cell" x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" '
                        f'fill="{_heat_color(acc)}"><title>{escape(r)} / {escape(c)}: {100 * acc:.1f}% '
                        f'({correct}/{n})</title></rect>'
                        f'<text x="{_t(x + cw / 2)}" y="{_t(y + 14)}" font-size="11" text-anchor="middle">'
                        f'{100 * acc:.0f}%</text>'
                        f'<text x="{_t(x + cw / 2)}" y="{_t(y + 27)}" font-size="9" text-anchor="middle" '
                        f'fill="#333">{correct}/{n}</text>')
    return _svg(width, height, body, title, cls)


def histogram(series: Sequence[tuple[str, Sequence[float]]], *, title: str, unit: str = "", bins: int = 20,
              log: bool = False, cls: str = "hist") -> str:
    """Overlaid step histograms of several series on shared bins (log-spaced bins with ``log=True``)."""
    values = [v for _, vals in series for v in vals if v is not None and (v > 0 or not log)]
    left, top, w, h = 48, 28, 420, 180
    width, height = left + w + 160, top + h + 44
    body = [f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    if not values:
        body.append(f'<text x="{left}" y="{top + 20}" font-size="12">no data</text>')
        return _svg(width, height, body, title, cls)
    lo, hi = min(values), max(values)
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi <= lo:
        hi = lo + 1
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    counts = []
    for _, vals in series:
        c = [0] * bins
        for v in vals:
            if v is None or (log and v <= 0):
                continue
            x = math.log10(v) if log else v
            c[min(bins - 1, int((x - lo) / (hi - lo) * bins))] += 1
        counts.append(c)
    cmax = max(max(c) for c in counts) or 1
    body += _y_axis(left, top, h, w, cmax, False)
    for si, ((name, vals), c) in enumerate(zip(series, counts)):
        color = PALETTE[si % len(PALETTE)]
        pts = [f"{_t(left)},{_t(top + h)}"]
        for i, k in enumerate(c):
            y = top + h - h * k / cmax
            pts += [f"{_t(left + w * i / bins)},{_t(y)}", f"{_t(left + w * (i + 1) / bins)},{_t(y)}"]
        pts.append(f"{_t(left + w)},{_t(top + h)}")
        body.append(f'<polyline points="{" ".join(pts)}" fill="{color}" fill-opacity="0.15" stroke="{color}" '
                    f'stroke-width="1.5"><title>{escape(name)}: {len(vals)} values</title></polyline>')
    for i in range(0, bins + 1, max(1, bins // 5)):
        x = left + w * i / bins
        v = 10 ** edges[i] if log else edges[i]
        body.append(f'<text x="{_t(x)}" y="{_t(top + h + 14)}" font-size="10" text-anchor="middle">{v:.3g}</text>')
    body.append(f'<text x="{_t(left + w / 2)}" y="{_t(top + h + 32)}" font-size="11" text-anchor="middle">'
                f'{escape(unit)}{" (log scale)" if log else ""}</text>')
    body += _legend([s[0] for s in series], left + w + 12, top + 10)
    return _svg(width, height, body, title, cls)


def forest(rows: Sequence[tuple[str, float | None, tuple[float, float] | None, str]], *, title: str,
           band: tuple[float, float] | None = None, lo: float = 0.0, hi: float = 100.0, cls: str = "forest") -> str:
    """Horizontal dot plot (percent scale): one row per (label, value, optional CI, colour); ``band`` shades a
    reference interval (the run's CI) across all rows."""
    left, top, w, rh = 330, 30, 380, 20
    width, height = left + w + 60, top + rh * len(rows) + 36
    span = hi - lo or 1.0

    def px(v: float) -> float:
        return left + w * (min(hi, max(lo, v)) - lo) / span

    body = [f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    if band:
        body.append(f'<rect x="{_t(px(band[0]))}" y="{top - 4}" width="{_t(px(band[1]) - px(band[0]))}" '
                    f'height="{rh * len(rows) + 4}" fill="#1f77b4" fill-opacity="0.12"/>')
    for i in range(6):
        v = lo + span * i / 5
        body.append(f'<line x1="{_t(px(v))}" y1="{top - 4}" x2="{_t(px(v))}" y2="{top + rh * len(rows)}" '
                    f'stroke="#eee"/><text x="{_t(px(v))}" y="{top + rh * len(rows) + 14}" font-size="10" '
                    f'text-anchor="middle">{v:.0f}</text>')
    for i, (label, value, ci, color) in enumerate(rows):
        y = top + rh * i + rh / 2
        short = label if len(label) <= 52 else label[:50] + "..."
        body.append(f'<text x="{left - 8}" y="{_t(y + 4)}" font-size="11" text-anchor="end">{escape(short)}</text>')
        if value is None:
            body.append(f'<text x="{left + 4}" y="{_t(y + 4)}" font-size="10" fill="#888">no published number</text>')
            continue
        if ci:
            body.append(f'<line x1="{_t(px(ci[0]))}" y1="{_t(y)}" x2="{_t(px(ci[1]))}" y2="{_t(y)}" '
                        f'stroke="{color}" stroke-width="2"/>')
        body.append(f'<circle class="point" cx="{_t(px(value))}" cy="{_t(y)}" r="4" fill="{color}"><title>'
                    f'{escape(label)}: {value:.1f}' + (f' [{ci[0]:.1f}, {ci[1]:.1f}]' if ci else '')
                    + '</title></circle>'
                    f'<text x="{_t(px(value) + 7)}" y="{_t(y - 5)}" font-size="9">{value:.1f}</text>')
    return _svg(width, height, body, title, cls)

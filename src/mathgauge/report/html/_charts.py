"""Small charts for the HTML report (grouped bars with CI whiskers, lines with CI bands, heatmaps, histograms,
forest plots), as geometry: each function returns a `Chart`, a list of SVG shapes that the ``chart.svg.j2``
template writes out (autoescaped, so a label can hold any text). No scripts, no external resources."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

Value = Union[str, float, int]


@dataclass
class Shape:
    """One SVG element: its tag, attributes, text content and tooltip (``<title>``)."""

    tag: str
    attrs: dict[str, Value]
    text: str | None = None
    title: str | None = None


@dataclass
class Chart:
    """An ``<svg>`` element's size, title, CSS class and shapes."""

    width: float
    height: float
    title: str
    cls: str
    shapes: list[Shape] = field(default_factory=list)

    def add(self, tag: str, text: str | None = None, title: str | None = None, **attrs: Value) -> Shape:
        """Append a shape (attribute names with ``_`` become ``-``: ``font_size`` -> ``font-size``; ``cls`` is the
        ``class`` attribute)."""
        return self._append(tag, attrs, text, title)

    def label(self, x: float, y: float, text: str, size: float = 11, **attrs: Value) -> Shape:
        """Append a ``<text>`` element."""
        return self._append("text", {"x": x, "y": y, "font_size": size, **attrs}, text, None)

    def _append(self, tag: str, attrs: dict[str, Value], text: str | None, title: str | None) -> Shape:
        shape = Shape(tag, {"class" if k == "cls" else k.replace("_", "-"): v for k, v in attrs.items()}, text, title)
        self.shapes.append(shape)
        return shape


def _points(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _legend(chart: Chart, names: Sequence[str], x: float, y: float) -> None:
    for i, name in enumerate(names):
        yy = y + 16 * i
        chart.add("rect", x=x, y=yy - 9, width=10, height=10, fill=PALETTE[i % len(PALETTE)])
        chart.label(x + 14, yy, name)


def _y_axis(chart: Chart, x0: float, y0: float, h: float, w: float, ymax: float, percent: bool) -> None:
    for i in range(5):
        v = ymax * i / 4
        y = y0 + h - h * i / 4
        label = f"{100 * v:.0f}%" if percent else (f"{v:.0f}" if ymax >= 20 else f"{v:.2g}")
        chart.add("line", x1=x0, y1=y, x2=x0 + w, y2=y, stroke="#ddd")
        chart.label(x0 - 4, y + 4, label, size=10, text_anchor="end")


def _title(chart: Chart, x: float) -> None:
    chart.label(x, 16, chart.title, size=13, font_weight="bold")


def grouped_bars(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float | None],
                 Sequence[tuple[float, float] | None] | None]], *, title: str, percent: bool = True,
                 ymax: float | None = None, width: int | None = None, cls: str = "bars") -> Chart:
    """Vertical grouped bars: one group per category, one bar per series, optional (lo, hi) whiskers.

    Args:
        categories: the x axis.
        series: (name, one value per category or None, optional (lo, hi) per category).
        title: the chart's title.
        percent: values are proportions (0-1), shown as percentages.
        ymax: top of the y axis (default: 1 for percentages, else 1.1 x the largest value).
        width: the chart's width (default: from the number of categories).
        cls: CSS class.
    """
    n_series = max(1, len(series))
    group_w = max(44, 16 * n_series + 12)
    left, top, bottom = 48, 28, 90
    w = max(320, len(categories) * group_w)
    height = 300
    h = height - top - bottom
    values = [v for _, vals, _ in series for v in vals if v is not None]
    whisk = [hi for _, _, cis in series if cis for ci in cis if ci for hi in ci[1:]]
    top_value = ymax or (1.0 if percent else max(values + whisk + [1e-9]) * 1.1)
    chart = Chart(width or (left + w + 150), height, title, cls)
    _title(chart, left)
    _y_axis(chart, left, top, h, w, top_value, percent)
    bar_w = (group_w - 10) / n_series
    for ci_, cat in enumerate(categories):
        gx = left + ci_ * group_w + 5
        for si, (name, vals, cis) in enumerate(series):
            v = vals[ci_]
            if v is None:
                continue
            x = gx + si * bar_w
            bh = h * min(v, top_value) / top_value
            label = f"{100 * v:.1f}%" if percent else f"{v:.4g}"
            chart.add("rect", title=f"{name} / {cat}: {label}", cls="bar", x=x, y=top + h - bh, width=bar_w - 1,
                      height=bh, fill=PALETTE[si % len(PALETTE)])
            ci = cis[ci_] if cis else None
            if bar_w >= 28:
                ytop = top + h - bh
                if ci:
                    ytop = min(ytop, top + h - h * min(ci[1], top_value) / top_value)
                chart.label(x + (bar_w - 1) / 2, ytop - 3, label, size=9, cls="value", text_anchor="middle")
            if ci:
                lo, hi = ci
                cx = x + (bar_w - 1) / 2
                y1, y2 = top + h - h * lo / top_value, top + h - h * min(hi, top_value) / top_value
                chart.add("line", x1=cx, y1=y1, x2=cx, y2=y2, stroke="#222")
                chart.add("line", x1=cx - 3, y1=y1, x2=cx + 3, y2=y1, stroke="#222")
                chart.add("line", x1=cx - 3, y1=y2, x2=cx + 3, y2=y2, stroke="#222")
        lx = gx + (group_w - 10) / 2
        chart.label(lx, top + h + 12, cat, size=10, text_anchor="end",
                    transform=f"rotate(-35 {lx:.1f} {top + h + 12:.1f})")
    if len(series) > 1:
        _legend(chart, [s[0] for s in series], left + w + 12, top + 10)
    return chart


def lines_with_ci(xs: Sequence[str], series: Sequence[tuple[str, Sequence[float | None],
                  Sequence[tuple[float, float] | None]]], *, title: str, cls: str = "lines") -> Chart:
    """Accuracy (0-1) against a categorical x axis, one line per series, shaded 95% CI band and whiskers.

    Args:
        xs: the x axis.
        series: (name, one value per x or None, one (lo, hi) or None per x).
        title: the chart's title.
        cls: CSS class.
    """
    left, top, h, step = 48, 28, 200, 70
    w = max(260, step * max(1, len(xs) - 1) + 40)
    chart = Chart(left + w + 160, top + h + 40, title, cls)
    _title(chart, left)
    _y_axis(chart, left, top, h, w, 1.0, True)

    def px(i: int) -> float:
        return left + 20 + i * step

    def py(v: float) -> float:
        return top + h - h * v

    for i, x in enumerate(xs):
        chart.label(px(i), top + h + 16, x, text_anchor="middle")
    for si, (name, vals, cis) in enumerate(series):
        color = PALETTE[si % len(PALETTE)]
        pts = [(px(i), py(v)) for i, v in enumerate(vals) if v is not None]
        band_hi = [(px(i), py(ci[1])) for i, ci in enumerate(cis) if ci and vals[i] is not None]
        band_lo = [(px(i), py(ci[0])) for i, ci in enumerate(cis) if ci and vals[i] is not None]
        if len(band_hi) > 1:
            chart.add("polygon", points=_points(band_hi + band_lo[::-1]), fill=color, fill_opacity=0.12,
                      stroke="none")
        if len(pts) > 1:
            chart.add("polyline", points=_points(pts), fill="none", stroke=color, stroke_width=2)
        for i, v in enumerate(vals):
            if v is None:
                continue
            ci = cis[i]
            if ci:
                chart.add("line", x1=px(i), y1=py(ci[0]), x2=px(i), y2=py(ci[1]), stroke=color)
            tip = f"{name} {xs[i]}: {100 * v:.1f}%" + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")
            chart.add("circle", title=tip, cls="point", cx=px(i), cy=py(v), r=3.5, fill=color)
    _legend(chart, [s[0] for s in series], left + w + 12, top + 10)
    return chart


def _heat_color(v: float) -> str:
    # red (0) -> yellow (0.5) -> green (1)
    v = min(1.0, max(0.0, v))
    if v < 0.5:
        r, g = 230, int(80 + 300 * v)
    else:
        r, g = int(230 - 360 * (v - 0.5)), 230
    return f"rgb({r},{min(g, 230)},90)"


def heatmap(rows: Sequence[str], cols: Sequence[str], cells: dict[tuple[str, str], tuple[int, int]], *,
            title: str, cls: str = "heatmap") -> Chart:
    """Accuracy per (row, col) cell from (correct, n) counts; each cell shows 'acc% / correct/n'.

    Args:
        rows, cols: the two axes.
        cells: (correct, n) per (row, col); missing or n=0 cells are grey.
        title: the chart's title.
        cls: CSS class.
    """
    left, top, cw, ch = 170, 40, 78, 34
    chart = Chart(max(left + cw * len(cols) + 20, 7 * len(title) + 20), top + ch * len(rows) + 20, title, cls)
    _title(chart, 4)
    for j, c in enumerate(cols):
        chart.label(left + j * cw + cw / 2, top - 6, c, text_anchor="middle")
    for i, r in enumerate(rows):
        y = top + i * ch
        chart.label(left - 6, y + ch / 2 + 4, r, text_anchor="end")
        for j, c in enumerate(cols):
            x = left + j * cw
            correct, n = cells.get((r, c), (0, 0))
            if n == 0:
                chart.add("rect", x=x, y=y, width=cw - 2, height=ch - 2, fill="#f2f2f2")
                continue
            acc = correct / n
            chart.add("rect", title=f"{r} / {c}: {100 * acc:.1f}% ({correct}/{n})", cls="cell", x=x, y=y,
                      width=cw - 2, height=ch - 2, fill=_heat_color(acc))
            chart.label(x + cw / 2, y + 14, f"{100 * acc:.0f}%", text_anchor="middle")
            chart.label(x + cw / 2, y + 27, f"{correct}/{n}", size=9, text_anchor="middle", fill="#333")
    return chart


def histogram(series: Sequence[tuple[str, Sequence[float]]], *, title: str, unit: str = "", bins: int = 20,
              log: bool = False, cls: str = "hist") -> Chart:
    """Overlaid step histograms of several series on shared bins (log-spaced bins with ``log=True``).

    Args:
        series: (name, values).
        title: the chart's title.
        unit: the x axis' unit.
        bins: how many bins.
        log: log-spaced bins (non-positive values are left out).
        cls: CSS class.
    """
    values = [v for _, vals in series for v in vals if v is not None and (v > 0 or not log)]
    left, top, w, h = 48, 28, 420, 180
    chart = Chart(left + w + 160, top + h + 44, title, cls)
    _title(chart, left)
    if not values:
        chart.label(left, top + 20, "no data", size=12)
        return chart
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
    _y_axis(chart, left, top, h, w, cmax, False)
    for si, ((name, vals), c) in enumerate(zip(series, counts)):
        color = PALETTE[si % len(PALETTE)]
        pts: list[tuple[float, float]] = [(left, top + h)]
        for i, k in enumerate(c):
            y = top + h - h * k / cmax
            pts += [(left + w * i / bins, y), (left + w * (i + 1) / bins, y)]
        pts.append((left + w, top + h))
        chart.add("polyline", title=f"{name}: {len(vals)} values", points=_points(pts), fill=color,
                  fill_opacity=0.15, stroke=color, stroke_width=1.5)
    for i in range(0, bins + 1, max(1, bins // 5)):
        v = 10 ** edges[i] if log else edges[i]
        chart.label(left + w * i / bins, top + h + 14, f"{v:.3g}", size=10, text_anchor="middle")
    chart.label(left + w / 2, top + h + 32, unit + (" (log scale)" if log else ""), text_anchor="middle")
    _legend(chart, [s[0] for s in series], left + w + 12, top + 10)
    return chart


def forest(rows: Sequence[tuple[str, float | None, tuple[float, float] | None, str]], *, title: str,
           band: tuple[float, float] | None = None, lo: float = 0.0, hi: float = 100.0, cls: str = "forest") -> Chart:
    """Horizontal dot plot (percent scale): one row per (label, value, optional CI, colour); ``band`` shades a
    reference interval (the run's CI) across all rows.

    Args:
        rows: (label, value or None, optional (lo, hi), colour).
        title: the chart's title.
        band: the interval shaded across every row.
        lo, hi: the axis' range.
        cls: CSS class.
    """
    left, top, w, rh = 330, 30, 380, 20
    chart = Chart(left + w + 60, top + rh * len(rows) + 36, title, cls)
    span = hi - lo or 1.0

    def px(v: float) -> float:
        return left + w * (min(hi, max(lo, v)) - lo) / span

    _title(chart, 4)
    if band:
        chart.add("rect", x=px(band[0]), y=top - 4, width=px(band[1]) - px(band[0]), height=rh * len(rows) + 4,
                  fill="#1f77b4", fill_opacity=0.12)
    for i in range(6):
        v = lo + span * i / 5
        chart.add("line", x1=px(v), y1=top - 4, x2=px(v), y2=top + rh * len(rows), stroke="#eee")
        chart.label(px(v), top + rh * len(rows) + 14, f"{v:.0f}", size=10, text_anchor="middle")
    for i, (label, value, ci, color) in enumerate(rows):
        y = top + rh * i + rh / 2
        short = label if len(label) <= 52 else label[:50] + "..."
        chart.label(left - 8, y + 4, short, text_anchor="end")
        if value is None:
            chart.label(left + 4, y + 4, "no published number", size=10, fill="#888")
            continue
        if ci:
            chart.add("line", x1=px(ci[0]), y1=y, x2=px(ci[1]), y2=y, stroke=color, stroke_width=2)
        tip = f"{label}: {value:.1f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")
        chart.add("circle", title=tip, cls="point", cx=px(value), cy=y, r=4, fill=color)
        chart.label(px(value) + 7, y - 5, f"{value:.1f}", size=9)
    return chart

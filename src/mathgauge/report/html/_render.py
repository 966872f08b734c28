"""The Jinja2 environment of the HTML report: templates shipped in ``templates/``, autoescaped, every value
neutralised (`mathgauge.report._text.neutralise`) before it is escaped."""

from __future__ import annotations

import functools
from importlib.resources import files
from typing import Any

from .._text import neutralise


def _finalize(value: Any) -> Any:
    from markupsafe import Markup

    if isinstance(value, str) and not isinstance(value, Markup):
        return neutralise(value)
    return value


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ci(interval: tuple[float, float]) -> str:
    return f"[{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def _ci_points(interval: tuple[float, float]) -> str:
    return f"[{100 * interval[0]:+.1f}, {100 * interval[1]:+.1f}]"


def _num(value: Any) -> Any:
    """Chart coordinates with one decimal; everything else as it is."""
    return f"{value:.1f}" if isinstance(value, float) else value


@functools.lru_cache(maxsize=1)
def environment() -> Any:
    """The report's Jinja2 environment (built once)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("mathgauge.report.html", "templates"),
                             autoescape=True, finalize=_finalize, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.filters.update(pct=_pct, ci=_ci, ci_points=_ci_points, num=_num)
    # compact JSON for the sample browser's data; `tojson` still escapes <, >, & and ' for the script element
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "separators": (",", ":")}
    return env


def static(name: str) -> Any:
    """A static file shipped beside the templates (the stylesheet, the browser script), marked safe to inline."""
    from markupsafe import Markup

    return Markup(files("mathgauge.report.html").joinpath("templates", name).read_text(encoding="utf-8"))


def render(template: str, **context: Any) -> str:
    """Render a template of ``templates/``.

    Args:
        template: its file name.
        context: the values it reads.
    """
    return str(environment().get_template(template).render(**context))

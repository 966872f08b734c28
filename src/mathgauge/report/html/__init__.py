"""The self-contained HTML report: Jinja2 templates with autoescape (shipped in ``templates/``), inline SVG charts,
and a sample browser whose size stays bounded whatever the run size."""

from ._build import DEFAULT_BUDGET_MB, DEFAULT_MAX_SAMPLES, build_report
from ._samples import SampleBrowser

__all__ = ["DEFAULT_BUDGET_MB", "DEFAULT_MAX_SAMPLES", "SampleBrowser", "build_report"]

"""CLI commands of the report package (scores, compare, report): being written; registers nothing yet."""

from __future__ import annotations

from typing import Any


def add_report_commands(subparsers: Any) -> None:
    """Add the report commands to the ``mathgauge`` parser."""
    return None

"""The console every report command prints through: rich, with model text neutralised on the way in."""

from __future__ import annotations

import sys
from typing import Any

from .._text import neutralise


def make_console(stderr: bool = False) -> Any:
    """A rich console whose every string (printed text, table cells, titles) has its raw control characters made
    visible (`mathgauge.report._text.neutralise`) before rich renders it, so nothing a model or a program wrote
    can reach the terminal as a control sequence; when output is piped it is wide (160 columns) so tables are not
    wrapped or cut.

    Args:
        stderr: print to standard error instead of standard output.
    """
    from rich.console import Console

    class SafeConsole(Console):
        # rich turns every str renderable (print arguments, table cells, titles) into Text here
        def render_str(self, text: str, **kwargs: Any) -> Any:
            return super().render_str(neutralise(text), **kwargs)

        def on_broken_pipe(self) -> None:
            # The reader went away (`| head -1`): rich would exit with status 1 here; the command decides instead
            # (its files are written, its exit status stands).
            self.quiet = True
            raise BrokenPipeError

    stream = sys.stderr if stderr else sys.stdout
    return SafeConsole(stderr=stderr, width=None if stream.isatty() else 160)

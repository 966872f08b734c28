"""Errors that reach the user as one clear line instead of a traceback.

Every stage raises a subclass of :class:`MathgaugeError` for a user mistake (bad file, bad option, unreachable
endpoint); the CLI prints ``error: <message>`` and exits with the error's ``exit_code`` (:data:`EXIT_USAGE` unless
the class says otherwise). A run that had to stop part-way raises :class:`RunStopped` (:data:`EXIT_SAMPLES_FAILED`);
Ctrl-C or SIGTERM raise :class:`RunInterrupted` (:data:`EXIT_INTERRUPTED`).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SAMPLES_FAILED = 3
EXIT_INTERRUPTED = 130


class MathgaugeError(Exception):
    """A problem the user can fix; the message says what and where."""

    exit_code = EXIT_USAGE


class DatasetError(MathgaugeError):
    """A benchmark, data file, column or manifest problem."""


class ConfigError(MathgaugeError):
    """An option or combination of options that cannot work."""


class StoreError(MathgaugeError):
    """The results store cannot be opened, or a run cannot be found or resumed."""


class StoreUnreadable(StoreError):
    """The store file cannot be read at all (not an SQLite database, or damaged where SQLite starts reading).

    Args:
        message: the line for the user.
        cause: SQLite's own words.
    """

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


class RunBusy(StoreError):
    """Another process is working on the run (it holds the run's lease)."""


class EndpointError(MathgaugeError):
    """The model endpoint cannot be used at all (unreachable, unauthorised, unknown model)."""


class RunStopped(MathgaugeError):
    """A run stopped part-way for a cause outside the samples (the endpoint stopped answering, a rate-limit storm
    that does not end, a store that cannot be written): everything stored is kept and `mathgauge resume` continues.

    Args:
        message: one line: what happened, how far the run got, and how to continue.
        run_name: the run.
    """

    exit_code = EXIT_SAMPLES_FAILED

    def __init__(self, message: str, *, run_name: str | None = None) -> None:
        super().__init__(message)
        self.run_name = run_name


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run: the samples in flight were dropped (left pending), everything finished is
    stored. A `KeyboardInterrupt`, so callers that catch that keep working.

    Args:
        run_name: the run (``mathgauge resume NAME`` continues it).
        signal_name: ``SIGINT`` or ``SIGTERM``.
        done: samples finished (done or failed) when it stopped.
        total: samples in the run.
    """

    exit_code = EXIT_INTERRUPTED

    def __init__(self, run_name: str, signal_name: str, done: int = 0, total: int = 0) -> None:
        super().__init__(f"run {run_name} interrupted by {signal_name}")
        self.run_name = run_name
        self.signal_name = signal_name
        self.done = done
        self.total = total

    def message(self) -> str:
        """The line the CLI prints."""
        return (f"interrupted ({self.signal_name}): {self.done} of {self.total} samples are stored, the ones in "
                f"flight were dropped; `mathgauge resume {self.run_name}` continues")

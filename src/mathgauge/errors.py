"""Errors that reach the user as one clear line instead of a traceback.

Every stage raises a subclass of :class:`MathgaugeError` for a user mistake (bad file, bad option, unreachable
endpoint); the CLI prints ``error: <message>`` and exits with :data:`EXIT_USAGE`.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SAMPLES_FAILED = 3


class MathgaugeError(Exception):
    """A problem the user can fix; the message says what and where."""


class DatasetError(MathgaugeError):
    """A benchmark, data file, column or manifest problem."""


class ConfigError(MathgaugeError):
    """An option or combination of options that cannot work."""


class StoreError(MathgaugeError):
    """The results store cannot be opened, or a run cannot be found or resumed."""


class EndpointError(MathgaugeError):
    """The model endpoint cannot be used at all (unreachable, unauthorised, unknown model)."""

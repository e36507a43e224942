"""A local emulator of the Cloud Tasks and Cloud Scheduler APIs that the official clients
talk gRPC or REST to, and that really sends tasks and jobs to their HTTP targets.

The kit never imports this package; it is its own process (``cloudtasks-kit emulator``),
or embedded by tests through :class:`Emulator`.
"""

from ._clock import Clock
from ._config import EmulatorConfig
from ._server import Emulator

__all__ = ["Clock", "Emulator", "EmulatorConfig"]

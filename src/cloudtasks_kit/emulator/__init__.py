"""A local emulator of the Cloud Tasks API that the official clients talk gRPC to.

The kit never imports this package; it is its own process (``cloudtasks-kit emulator``),
or embedded by tests through :class:`Emulator`.
"""

from .clock import Clock
from .config import EmulatorConfig
from .server import Emulator

__all__ = ["Clock", "Emulator", "EmulatorConfig"]

"""The ``cloudtasks-kit`` command: ``emulator``, ``queues sync``, ``schedules sync``."""

from ._main import main

__all__ = ["main"]

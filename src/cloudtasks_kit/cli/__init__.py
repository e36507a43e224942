"""The ``cloudtasks-kit`` command: ``emulator``, ``queues sync``, ``schedules sync``,
``dead-letters list|replay``."""

from ._main import main

__all__ = ["main"]

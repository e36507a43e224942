"""The ``cloudtasks-kit`` command: ``dev``, ``emulator``, ``queues sync|list|describe|pause|
resume|purge``, ``tasks list|describe|run|delete``, ``schedules sync``,
``dead-letters list|replay``."""

from ._main import main

__all__ = ["main"]

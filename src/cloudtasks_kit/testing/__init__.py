"""Helpers for tests of apps built with the kit (and of the kit itself).

- :class:`EmulatorProcess` starts ``python -m cloudtasks_kit.emulator`` on free loopback
  ports and stops it; :meth:`EmulatorProcess.tasks_client` gives an official client for it.
- :class:`BackgroundServer` serves an ASGI app (a worker) with uvicorn on a free loopback
  port in a thread.
- :class:`EagerTasksClient` stands in for the Cloud Tasks client in a container: it records
  each task and runs it through the app's ASGI interface at once, like Celery's eager mode.

The pytest fixtures built on these live in :mod:`cloudtasks_kit.testing.pytest_plugin`.
"""

from ._eager import AsyncEagerTasksClient, EagerTaskFailed, EagerTasksClient
from ._emulator_process import EmulatorProcess
from ._server import BackgroundServer

__all__ = [
    "AsyncEagerTasksClient",
    "BackgroundServer",
    "EagerTaskFailed",
    "EagerTasksClient",
    "EmulatorProcess",
]

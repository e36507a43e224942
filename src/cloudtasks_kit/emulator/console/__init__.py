"""The emulator's web console: queues, tasks, attempts and jobs, and actions on them, read
and done through the same core as the APIs (``_source``), rendered by ``_app``."""

from ._app import console_routes
from ._source import ConsoleSource

__all__ = ["ConsoleSource", "console_routes"]

"""Old import path of :mod:`._config`, for ``tests/test_cli.py`` until it imports ``_config``."""

from ._config import EmulatorConfig, load_declared_queues

__all__ = ["EmulatorConfig", "load_declared_queues"]

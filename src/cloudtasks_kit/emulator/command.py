"""Old import path of :mod:`._command`, for ``cli.py`` until it imports ``_command``."""

from ._command import add_arguments, main, run_from_args

__all__ = ["add_arguments", "main", "run_from_args"]

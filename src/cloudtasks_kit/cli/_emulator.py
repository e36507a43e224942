"""``cloudtasks-kit emulator``: the local emulator (the ``[emulator]`` extra)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__: list[str] = []


def register(commands: Any, arguments: list[str]) -> None:
    emulator = commands.add_parser(
        "emulator",
        help="run the local Cloud Tasks / Cloud Scheduler emulator (the [emulator] extra)",
    )
    try:
        from ..emulator import _command as emulator_command
    except ImportError as exc:  # the [emulator] extra is not installed
        if arguments[:1] == ["emulator"]:
            sys.exit(
                f"cloudtasks-kit emulator needs {exc.name}: pip install 'cloudtasks-kit[emulator]'"
            )
        return
    emulator_command.add_arguments(emulator)
    emulator.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from ..emulator import _command as emulator_command
    from ..emulator._errors import StartError
    from ._common import CommandError

    try:
        result: int = emulator_command.run_from_args(args)
    except StartError as exc:  # a taken port, an unwritable --data, a bad --config
        raise CommandError(str(exc)) from exc
    return result

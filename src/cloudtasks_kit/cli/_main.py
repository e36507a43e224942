"""The root of the ``cloudtasks-kit`` command: one sub-command per module of this package."""

from __future__ import annotations

import argparse
import sys

from . import _dead_letters, _emulator, _queues, _schedules

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloudtasks-kit")
    commands = parser.add_subparsers(dest="command", required=True)
    arguments = sys.argv[1:] if argv is None else argv
    for command in (_emulator, _queues, _schedules, _dead_letters):
        command.register(commands, arguments)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result

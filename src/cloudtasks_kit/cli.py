"""The ``cloudtasks-kit`` command."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloudtasks-kit")
    commands = parser.add_subparsers(dest="command", required=True)
    emulator = commands.add_parser(
        "emulator", help="run the local Cloud Tasks emulator (needs the [emulator] extra)"
    )
    try:
        from .emulator import command as emulator_command
    except ImportError as exc:  # the [emulator] extra is not installed
        missing = exc.name
        emulator.set_defaults(
            run=lambda _: sys.exit(
                f"cloudtasks-kit emulator needs {missing}: pip install 'cloudtasks-kit[emulator]'"
            )
        )
    else:
        emulator_command.add_arguments(emulator)
        emulator.set_defaults(run=emulator_command.run_from_args)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

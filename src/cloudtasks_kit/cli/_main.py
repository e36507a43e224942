"""The root of the ``cloudtasks-kit`` command: one sub-command per module of this package.

What every sub-command shares lives here: help texts that show defaults, ``--version``,
``-v`` / ``--debug``, and the one-line errors. A failure prints ``error: <what to do>`` on
stderr and exits 2 for a usage or configuration error, 1 for a failure at run time; the
traceback only with ``--debug``.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from importlib import metadata
from typing import Any, NoReturn

from . import _dead_letters, _dev, _emulator, _queues, _schedules, _tasks
from ._common import FAILED, USAGE, CommandError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """Every parser of the command, sub-commands' too: defaults in the help, ``--version``
    and ``--debug`` wherever they are written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action="version", version=f"cloudtasks-kit {_version()}")
        self.add_argument(
            "-v",
            "--debug",
            action="store_true",
            # Only the root parser sets the default: a sub-command's would overwrite its value.
            default=False if self.prog == "cloudtasks-kit" else argparse.SUPPRESS,
            help="on an error, show the whole traceback",
        )

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="cloudtasks-kit",
        description="Typed Cloud Tasks and Cloud Scheduler from FastAPI routes, and a local "
        "emulator of both.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    arguments = sys.argv[1:] if argv is None else argv
    for command in (_dev, _emulator, _queues, _tasks, _schedules, _dead_letters):
        command.register(commands, arguments)
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _report(exc, debug=args.debug)
    return result


def _report(exc: Exception, *, debug: bool) -> int:
    from .._errors import CloudTasksKitError, ConfigurationError

    if debug:
        traceback.print_exc()
    if isinstance(exc, CommandError):
        code, message = exc.exit_code, str(exc)
    elif isinstance(exc, ConfigurationError):
        code, message = USAGE, str(exc)
    elif isinstance(exc, CloudTasksKitError):
        code, message = FAILED, str(exc)
    else:  # not one of the kit's errors: a bug, or an error nobody translated yet
        code, message = FAILED, f"{type(exc).__name__}: {exc}"
        if not debug:
            message += " (run with --debug for the traceback)"
    print(f"error: {message}", file=sys.stderr)
    return code


def _version() -> str:
    try:
        return metadata.version("cloudtasks-kit")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"

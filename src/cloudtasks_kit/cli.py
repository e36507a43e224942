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
    queues = commands.add_parser("queues", help="manage the Cloud Tasks queues of the settings")
    queue_commands = queues.add_subparsers(dest="queues_command", required=True)
    sync = queue_commands.add_parser(
        "sync",
        help="create or update the queues declared in settings (CLOUDTASKS_* / config/)",
    )
    sync.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    sync.set_defaults(run=_sync_queues)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


def _sync_queues(args: argparse.Namespace) -> int:
    from .container import Container
    from .queues import plan_queues

    container = Container()
    try:
        plan = plan_queues(container.settings(), container.tasks_client())
        print(plan.render())
        if args.dry_run:
            return 0
        failures = plan.apply()
    finally:
        container.unwire()
        container.shutdown_resources()
    for failure in failures:
        print(f"failed: {failure.change.action} {failure.change.name}: {failure.error}")
    print(f"{len(failures)} failed" if failures else "done")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

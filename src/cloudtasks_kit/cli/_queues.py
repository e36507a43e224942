"""``cloudtasks-kit queues sync``: the queues the settings declare, created or updated."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import checked_container

__all__: list[str] = []


def register(commands: Any, arguments: list[str]) -> None:
    queues = commands.add_parser("queues", help="manage the Cloud Tasks queues of the settings")
    queue_commands = queues.add_subparsers(dest="queues_command", required=True)
    sync = queue_commands.add_parser(
        "sync",
        help="create or update the queues declared in settings (CLOUDTASKS_* / config/)",
    )
    sync.add_argument(
        "--dry-run", action="store_true", help="print what would change, change nothing"
    )
    sync.set_defaults(run=_sync)


def _sync(args: argparse.Namespace) -> int:
    from ..ops import plan_queues

    container = checked_container()
    try:
        plan = plan_queues(container.settings(), container.tasks_client())
        if args.dry_run:
            print(plan.render())
            return 0
        failures = plan.apply(report=_say)
    finally:
        container.shutdown_resources()
    print(f"{len(failures)} failed" if failures else f"done: {plan.summary()}")
    return 1 if failures else 0


def _say(line: str) -> None:
    print(line, flush=True)  # a line per queue as it is done, not at the end

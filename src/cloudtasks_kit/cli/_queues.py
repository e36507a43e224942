"""``cloudtasks-kit queues sync``: the queues the settings declare, created or updated."""

from __future__ import annotations

import argparse
from typing import Any

__all__: list[str] = []


def register(commands: Any, arguments: list[str]) -> None:
    queues = commands.add_parser("queues", help="manage the Cloud Tasks queues of the settings")
    queue_commands = queues.add_subparsers(dest="queues_command", required=True)
    sync = queue_commands.add_parser(
        "sync",
        help="create or update the queues declared in settings (CLOUDTASKS_* / config/)",
    )
    sync.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    sync.set_defaults(run=_sync)


def _sync(args: argparse.Namespace) -> int:
    from .._container import Container
    from ..ops import plan_queues

    container = Container()
    try:
        plan = plan_queues(container.settings(), container.tasks_client())
        print(plan.render())
        if args.dry_run:
            return 0
        failures = plan.apply()
    finally:
        container.shutdown_resources()
    for failure in failures:
        print(f"failed: {failure.change.action} {failure.change.name}: {failure.error}")
    print(f"{len(failures)} failed" if failures else "done")
    return 1 if failures else 0

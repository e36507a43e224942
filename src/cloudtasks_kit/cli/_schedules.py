"""``cloudtasks-kit schedules sync APP``: the jobs an app declares with ``@scheduled``."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import carry_out, checked_container, load_app

__all__: list[str] = []


def register(commands: Any, arguments: list[str]) -> None:
    schedules = commands.add_parser(
        "schedules", help="manage the Cloud Scheduler jobs an app declares with @scheduled"
    )
    schedule_commands = schedules.add_subparsers(dest="schedules_command", required=True)
    sync = schedule_commands.add_parser("sync", help="create, update (and prune) jobs")
    sync.add_argument("app", help="MODULE:ATTRIBUTE of the FastAPI app (or its factory)")
    sync.add_argument(
        "--prune",
        action="store_true",
        help="delete jobs this app owns (scheduler_job_prefix) that it no longer declares",
    )
    sync.add_argument(
        "--dry-run", action="store_true", help="print what would change, change nothing"
    )
    sync.set_defaults(run=_sync)


def _sync(args: argparse.Namespace) -> int:
    from ..ops import plan_schedules

    app = load_app(args.app)
    container = checked_container(app)
    try:
        # Bad declarations (duplicate names, prune without a prefix) are ConfigurationErrors,
        # raised before the first RPC: exit 2 with their message.
        plan = plan_schedules(container.job_scheduler(), app, prune=args.prune)
        return carry_out(plan, dry_run=args.dry_run)
    finally:
        container.shutdown_resources()

"""``cloudtasks-kit schedules sync APP``: the jobs an app declares with ``@scheduled``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

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
    sync.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    sync.set_defaults(run=_sync)


def _sync(args: argparse.Namespace) -> int:
    from .._container import Container
    from .._errors import ConfigurationError
    from ..ops import plan_schedules

    app = _load_app(args.app)
    container = Container()
    container.worker_app.override(app)
    try:
        try:
            plan = plan_schedules(container.job_scheduler(), app, prune=args.prune)
        except (ConfigurationError, ValueError, TypeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(plan.render())
        failures = [] if args.dry_run else plan.apply()
    finally:
        container.shutdown_resources()
    for failure in failures:
        print(f"failed: {failure.change.action} {failure.change.name}: {failure.error}")
    if not args.dry_run:
        print(f"{len(failures)} failed" if failures else "done")
    return 1 if failures else 0


def _load_app(spec: str) -> object:
    from fastapi import FastAPI

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"expected MODULE:ATTRIBUTE, got {spec!r}")
    sys.path.insert(0, os.getcwd())  # as uvicorn does: the app lives in the project
    target = getattr(importlib.import_module(module_name), attribute)
    return target if isinstance(target, FastAPI) else target()

"""The ``cloudtasks-kit`` command."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloudtasks-kit")
    commands = parser.add_subparsers(dest="command", required=True)
    emulator = commands.add_parser(
        "emulator",
        help="run the local Cloud Tasks / Cloud Scheduler emulator (the [emulator] extra)",
    )
    try:
        from .emulator import command as emulator_command
    except ImportError as exc:  # the [emulator] extra is not installed
        arguments = sys.argv[1:] if argv is None else argv
        if arguments[:1] == ["emulator"]:
            sys.exit(
                f"cloudtasks-kit emulator needs {exc.name}: pip install 'cloudtasks-kit[emulator]'"
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
    schedules = commands.add_parser(
        "schedules", help="manage the Cloud Scheduler jobs an app declares with @scheduled"
    )
    schedule_commands = schedules.add_subparsers(dest="schedules_command", required=True)
    sync_jobs = schedule_commands.add_parser("sync", help="create, update (and prune) jobs")
    sync_jobs.add_argument("app", help="MODULE:ATTRIBUTE of the FastAPI app (or its factory)")
    sync_jobs.add_argument(
        "--prune",
        action="store_true",
        help="delete jobs this app owns (scheduler_job_prefix) that it no longer declares",
    )
    sync_jobs.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    sync_jobs.set_defaults(run=_sync_schedules)
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


def _sync_schedules(args: argparse.Namespace) -> int:
    from .container import Container
    from .errors import ConfigurationError
    from .schedules import plan_schedules

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
        container.unwire()
        container.shutdown_resources()
    for failure in failures:
        print(f"failed: {failure.change.action} {failure.change.name}: {failure.error}")
    if not args.dry_run:
        print(f"{len(failures)} failed" if failures else "done")
    return 1 if failures else 0


def _load_app(spec: str) -> object:
    import importlib
    import os

    from fastapi import FastAPI

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"expected MODULE:ATTRIBUTE, got {spec!r}")
    sys.path.insert(0, os.getcwd())  # as uvicorn does: the app lives in the project
    target = getattr(importlib.import_module(module_name), attribute)
    return target if isinstance(target, FastAPI) else target()


if __name__ == "__main__":
    sys.exit(main())

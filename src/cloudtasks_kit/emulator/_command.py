"""``cloudtasks-kit emulator`` / ``python -m cloudtasks_kit.emulator``: flags -> EmulatorConfig."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ._config import EmulatorConfig, load_declared_queues

__all__ = ["add_arguments", "main", "run_from_args"]

# The flags' defaults are EmulatorConfig's, so that the command and an embedded Emulator agree.
_DEFAULTS = EmulatorConfig()
# Flags in seconds that set the EmulatorConfig field of their name: field -> help.
_SECONDS = {
    "task_tombstone_ttl": "seconds a task name stays taken after it ran or was deleted "
    "(default 3600)",
    "queue_tombstone_ttl": "seconds a deleted queue's name cannot be reused (default 7 days)",
    "min_dispatch_deadline": "lowest dispatch_deadline accepted, in seconds (Google: 15)",
    "min_attempt_deadline": "lowest Cloud Scheduler job attempt_deadline accepted, in seconds "
    "(Google: 15)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=_DEFAULTS.host, help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=_DEFAULTS.port, help="gRPC port (0: any free port)"
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=None,
        help="HTTP port for OIDC discovery, JWKS and admin calls (default: port + 1)",
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="SQLite state file (default: in memory)"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML file declaring queues to create at start"
    )
    for field, help_text in _SECONDS.items():
        parser.add_argument(
            "--" + field.replace("_", "-"),
            type=float,
            default=getattr(_DEFAULTS, field),
            help=help_text,
        )
    parser.add_argument(
        "--hard-reset-on-purge",
        action="store_true",
        help="PurgeQueue also releases the purged tasks' names at once (by default they stay "
        "taken for --task-tombstone-ttl, as after DeleteTask); for test suites written for "
        "aertje's emulator and its -hard-reset-on-purge-queue",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


def run_from_args(args: argparse.Namespace) -> int:
    from ._server import run  # the server pulls in grpc, uvicorn and httpx: only when serving

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = EmulatorConfig(
        host=args.host,
        port=args.port,
        http_port=args.http_port,
        data=args.data,
        declared_queues=load_declared_queues(args.config) if args.config else (),
        hard_reset_on_purge=args.hard_reset_on_purge,
        **{field: getattr(args, field) for field in _SECONDS},
    )
    return run(config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloudtasks_kit.emulator",
        description=(
            "Local emulator of Google Cloud Tasks and Cloud Scheduler that really sends "
            "tasks and jobs to their HTTP targets."
        ),
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))

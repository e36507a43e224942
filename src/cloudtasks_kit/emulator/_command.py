"""``cloudtasks-kit emulator`` / ``python -m cloudtasks_kit.emulator``: flags -> EmulatorConfig."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import yaml

from ._config import EmulatorConfig, load_declared_queues
from ._errors import StartError

__all__ = ["add_arguments", "main", "run_from_args"]

# The flags' defaults are EmulatorConfig's, so that the command and an embedded Emulator agree.
_DEFAULTS = EmulatorConfig()
# Flags in seconds that set the EmulatorConfig field of their name: field -> help.
# The parsers use ArgumentDefaultsHelpFormatter: the help shows each default itself.
_SECONDS = {
    "task_tombstone_ttl": "seconds a task name stays taken after it ran or was deleted",
    "queue_tombstone_ttl": "seconds a deleted queue's name cannot be reused (Google: 7 days)",
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
        help="HTTP port for the REST API, OIDC discovery, JWKS and admin calls (None: port + 1)",
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="SQLite state file (None: in memory)"
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
    """Serve until SIGINT / SIGTERM.

    :raises StartError: a port is taken, the state file cannot be opened, or the ``--config``
        file is wrong; the message names the port, path or flag.
    """
    from ._server import run  # the server pulls in grpc, uvicorn and httpx: only when serving

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per dispatch attempt is the dispatcher's; httpx would add its own for each.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = EmulatorConfig(
        host=args.host,
        port=args.port,
        http_port=args.http_port,
        data=args.data,
        declared_queues=_declared_queues(args.config),
        hard_reset_on_purge=args.hard_reset_on_purge,
        **{field: getattr(args, field) for field in _SECONDS},
    )
    return run(config)


def _declared_queues(path: Path | None) -> tuple[bytes, ...]:
    if path is None:
        return ()
    try:
        return load_declared_queues(path)
    except OSError as exc:
        raise StartError(f"--config {path}: cannot be read: {exc.strerror}") from None
    except ValueError as exc:  # the message names the file and the entry
        raise StartError(f"--config: {exc}") from None
    except yaml.YAMLError as exc:
        raise StartError(f"--config {path}: not valid YAML: {exc}".replace("\n", " ")) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloudtasks_kit.emulator",
        description=(
            "Local emulator of Google Cloud Tasks and Cloud Scheduler that really sends "
            "tasks and jobs to their HTTP targets."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_arguments(parser)
    try:
        return run_from_args(parser.parse_args(argv))
    except StartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

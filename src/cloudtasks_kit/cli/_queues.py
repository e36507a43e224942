"""``cloudtasks-kit queues sync|list|describe|pause|resume|purge``: the queues the settings
declare, created or updated; and any queue of the settings' location, looked at and acted on
(against Google or the emulator, whichever the settings point at)."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import (
    api_refusals,
    carry_out,
    checked_container,
    confirm,
    message_json,
    print_json,
    span,
    table,
    tasks_inspector,
    when,
)

__all__: list[str] = []

_QUEUE_HELP = "a key of queues in the settings, a queue id or a full path"


def register(commands: Any, arguments: list[str]) -> None:
    queues = commands.add_parser("queues", help="manage and inspect Cloud Tasks queues")
    queue_commands = queues.add_subparsers(dest="queues_command", required=True)
    sync = queue_commands.add_parser(
        "sync",
        help="create or update the queues declared in settings (CLOUDTASKS_* / config/)",
    )
    sync.add_argument(
        "--dry-run", action="store_true", help="print what would change, change nothing"
    )
    sync.set_defaults(run=_sync)

    listing = queue_commands.add_parser(
        "list", help="every queue of the settings' project and location"
    )
    listing.add_argument("--json", action="store_true", help="the queues as JSON, for scripts")
    listing.set_defaults(run=_list)
    describe = queue_commands.add_parser("describe", help="a queue's state, rate and retries")
    describe.add_argument("queue", help=_QUEUE_HELP)
    describe.add_argument("--json", action="store_true", help="the queue as JSON")
    describe.set_defaults(run=_describe)
    for action, text in (
        ("pause", "stop sending the queue's tasks (they stay stored)"),
        ("resume", "send the queue's tasks again"),
        ("purge", "delete every task of the queue, unrun (asks first)"),
    ):
        command = queue_commands.add_parser(action, help=text)
        command.add_argument("queue", help=_QUEUE_HELP)
        command.add_argument("--json", action="store_true", help="the queue after, as JSON")
        if action == "purge":
            command.add_argument("-y", "--yes", action="store_true", help="do not ask")
        command.set_defaults(run=_act, action=action)


def _sync(args: argparse.Namespace) -> int:
    from ..ops import plan_queues

    container = checked_container()
    try:
        return carry_out(
            plan_queues(container.settings(), container.tasks_client()), dry_run=args.dry_run
        )
    finally:
        container.shutdown_resources()


def _list(args: argparse.Namespace) -> int:
    with tasks_inspector() as inspector, api_refusals():
        queues = inspector.queues()
    if args.json:
        print_json([message_json(queue) for queue in queues])
        return 0
    header = ("QUEUE", "STATE", "RATE", "CONCURRENT", "ATTEMPTS", "BACKOFF")
    rows = [
        (
            queue.name.rsplit("/", 1)[1],
            queue.state.name,
            f"{queue.rate_limits.max_dispatches_per_second:g}/s",
            str(queue.rate_limits.max_concurrent_dispatches),
            _attempts(queue.retry_config.max_attempts),
            f"{span(queue.retry_config.min_backoff)}..{span(queue.retry_config.max_backoff)}",
        )
        for queue in queues
    ]
    print(table(header, rows))
    print(f"{len(rows)} queue{'' if len(rows) == 1 else 's'} in {inspector.location()}")
    return 0


def _describe(args: argparse.Namespace) -> int:
    with tasks_inspector() as inspector, api_refusals():
        queue = inspector.queue(args.queue)
    if args.json:
        print_json(message_json(queue))
        return 0
    _describe_queue(queue)
    return 0


def _describe_queue(queue: Any) -> None:
    rate, retry = queue.rate_limits, queue.retry_config
    duration = span(retry.max_retry_duration) if retry.max_retry_duration else "unlimited"
    lines = [
        ("name", queue.name),
        ("state", queue.state.name),
        ("max dispatches", f"{rate.max_dispatches_per_second:g}/s"),
        ("max burst", str(rate.max_burst_size)),
        ("max concurrent", str(rate.max_concurrent_dispatches)),
        ("max attempts", _attempts(retry.max_attempts)),
        ("max retry duration", duration),
        ("backoff", f"{span(retry.min_backoff)} to {span(retry.max_backoff)}, "
         f"{retry.max_doublings} doublings"),
        ("purged", when(queue.purge_time) if queue.purge_time else "-"),
    ]  # fmt: skip
    for label, value in lines:
        print(f"{label + ':':20}{value}")


def _act(args: argparse.Namespace) -> int:
    with tasks_inspector() as inspector:
        name = inspector.queue_path(args.queue)
        if args.action == "purge":
            confirm(f"purge every task of {name}?", yes=args.yes)
        with api_refusals():
            queue = getattr(inspector, args.action)(args.queue)
    if args.json:
        print_json(message_json(queue))
    else:
        done = {"pause": "paused", "resume": "resumed", "purge": "purged"}[args.action]
        print(f"{done} {queue.name} (state {queue.state.name})")
    return 0


def _attempts(max_attempts: int) -> str:
    return "unlimited" if max_attempts == -1 else str(max_attempts)

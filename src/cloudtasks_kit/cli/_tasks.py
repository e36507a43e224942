"""``cloudtasks-kit tasks list|describe|run|delete QUEUE [TASK]``: a queue's tasks, looked at
and acted on through the official client (against Google or the emulator, whichever the
settings point at)."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable
from typing import Any

from ._common import (
    USAGE,
    CommandError,
    Progress,
    api_refusals,
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
_TASK_HELP = "a task id, or a full task name"
_DEFAULT_LIMIT = 100


def register(commands: Any, arguments: list[str]) -> None:
    tasks = commands.add_parser("tasks", help="inspect a queue's tasks, run or delete one")
    actions = tasks.add_subparsers(dest="tasks_command", required=True)
    listing = actions.add_parser("list", help="a queue's tasks, in Cloud Tasks' order")
    listing.add_argument("queue", help=_QUEUE_HELP)
    listing.add_argument(
        "--limit", type=int, default=_DEFAULT_LIMIT, help="at most this many tasks (0: all)"
    )
    listing.add_argument("--json", action="store_true", help="the tasks as JSON, for scripts")
    listing.set_defaults(run=_list)
    for action, text in (
        ("describe", "a task: URL, headers, body, OIDC token, attempts"),
        ("run", "send a task now, whatever its schedule time and the queue's state"),
        ("delete", "delete a task, unrun (asks first)"),
    ):
        command = actions.add_parser(action, help=text)
        command.add_argument("queue", help=_QUEUE_HELP)
        command.add_argument("task", help=_TASK_HELP)
        command.add_argument("--json", action="store_true", help="the result as JSON")
        if action == "delete":
            command.add_argument("-y", "--yes", action="store_true", help="do not ask")
        command.set_defaults(run=_act, action=action)


def _list(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise CommandError("--limit: must be 0 (all) or more", USAGE)
    with tasks_inspector() as inspector:
        queue = inspector.queue_path(args.queue)
        progress = Progress("listing tasks")
        try:
            with api_refusals():
                tasks = list(inspector.tasks(args.queue, limit=args.limit, progress=progress))
        finally:
            progress.done()
    if args.json:
        print_json([message_json(task) for task in tasks])
        return 0
    header = ("TASK", "SCHEDULED", "ATTEMPTS", "RESPONSES", "LAST", "TARGET")
    rows = [
        (
            task.name.rsplit("/", 1)[1],
            when(task.schedule_time),
            str(task.dispatch_count),
            str(task.response_count),
            _last_status(task),
            f"{task.http_request.http_method.name} {task.http_request.url}",
        )
        for task in tasks
    ]
    print(table(header, rows))
    more = " (--limit reached; --limit 0 lists them all)" if len(rows) == args.limit else ""
    print(f"{len(rows)} task{'' if len(rows) == 1 else 's'} in {queue}{more}")
    return 0


def _act(args: argparse.Namespace) -> int:
    with tasks_inspector() as inspector:
        name = inspector.task_path(args.queue, args.task)
        if args.action == "delete":
            confirm(f"delete {name}, unrun?", yes=args.yes)
        with api_refusals():
            method: dict[str, Callable[[str, str], Any]] = {
                "describe": inspector.task,
                "run": inspector.run,
                "delete": inspector.delete,
            }
            result = method[args.action](args.queue, args.task)
    if args.action == "delete":
        if args.json:
            print_json({"deleted": result})
        else:
            print(f"deleted {result}")
    elif args.json:
        print_json(message_json(result))
    elif args.action == "run":
        print(f"sent {result.name} (attempt {result.dispatch_count + 1})")
    else:
        _describe(result)
    return 0


def _describe(task: Any) -> None:
    http = task.http_request
    oidc = http.oidc_token
    token = (
        f"for {oidc.service_account_email}, audience {oidc.audience or http.url}"
        if oidc.service_account_email
        else "-"
    )
    lines = [
        ("name", task.name),
        ("target", f"{http.http_method.name} {http.url}"),
        ("scheduled", when(task.schedule_time)),
        ("created", when(task.create_time)),
        ("dispatch deadline", span(task.dispatch_deadline) if task.dispatch_deadline else "-"),
        ("attempts", str(task.dispatch_count)),
        ("responses", str(task.response_count)),
        ("first attempt", when(task.first_attempt.dispatch_time)),
        ("last attempt", when(task.last_attempt.dispatch_time)),
        ("last status", _last_status(task)),
        ("OIDC token", token),
    ]
    for label, value in lines:
        print(f"{label + ':':19}{value}")
    print("headers:")
    for key, value in sorted(http.headers.items(), key=lambda item: item[0].lower()):
        print(f"  {key}: {value}")
    print("body:" + ("" if http.body else " (none)"))
    if http.body:
        print(_body(http.body))


def _last_status(task: Any) -> str:
    status = task.last_attempt.response_status
    if not task.last_attempt.dispatch_time or not (status.code or status.message):
        return "-"
    return status.message or f"code {status.code}"


def _body(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"  ({len(body)} bytes, not UTF-8 text)"
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return "\n".join(f"  {line}" for line in text.splitlines())

"""``cloudtasks-kit dead-letters list|replay QUEUE``: the tasks parked after their last attempt."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from ._common import USAGE, CommandError, checked_container, table

__all__: list[str] = []

_QUEUE_HELP = (
    "the dead-letter queue, or a queue whose settings name one (then only its letters): "
    "a key of queues, a queue id or a full path"
)


def register(commands: Any, arguments: list[str]) -> None:
    dead_letters = commands.add_parser(
        "dead-letters", help="see and replay the tasks parked after their last attempt failed"
    )
    actions = dead_letters.add_subparsers(dest="dead_letters_command", required=True)
    listing = actions.add_parser("list", help="the parked tasks, oldest first")
    listing.add_argument("queue", help=_QUEUE_HELP)
    listing.set_defaults(run=_list)
    replay = actions.add_parser(
        "replay",
        help="re-create parked tasks in their original queue, then delete them from the "
        "dead-letter queue",
    )
    replay.add_argument("queue", help=_QUEUE_HELP)
    replay.add_argument("tasks", nargs="*", metavar="TASK", help="dead letters by id or name")
    replay.add_argument("--all", action="store_true", help="every dead letter of QUEUE")
    replay.add_argument("--dry-run", action="store_true", help="print what would be replayed")
    replay.set_defaults(run=_replay)


def _list(args: argparse.Namespace) -> int:
    from ..ops import list_dead_letters

    container = checked_container()
    try:
        letters = list_dead_letters(container.settings(), container.tasks_client(), args.queue)
    finally:
        container.shutdown_resources()
    rows = [
        (
            letter.id,
            _short(letter.queue),
            letter.task_id or "-",
            str(letter.attempts or "-"),
            str(letter.status or "-"),
            _time(letter.parked_at),
            _time(letter.expires_at),
            letter.reason or "-",
        )
        for letter in letters
    ]
    header = ("dead letter", "queue", "task", "attempts", "status", "parked", "expires", "reason")
    print(table(header, rows))
    print(f"{len(rows)} dead letter{'s' if len(rows) != 1 else ''}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from ..ops import DeadLetterNotFound, replay_dead_letters

    if bool(args.tasks) == args.all:
        raise CommandError("name the dead letters to replay, or pass --all", USAGE)
    container = checked_container()
    try:
        replays = replay_dead_letters(
            container.settings(),
            container.tasks_client(),
            container.delayed_hooks(),
            args.queue,
            None if args.all else args.tasks,
            dry_run=args.dry_run,
        )
    except DeadLetterNotFound as exc:
        raise CommandError(str(exc), USAGE) from exc
    finally:
        container.shutdown_resources()
    failed = 0
    for replay in replays:
        letter = replay.letter
        if replay.error is not None:
            failed += 1
            print(f"failed: {letter.id}: {replay.error}")
        elif args.dry_run:
            print(f"would replay {letter.id} into {letter.queue}: {letter.method} {letter.url}")
        else:
            print(f"replayed {letter.id} as {replay.task}")
    done = len(replays) - failed
    verb = "would be replayed" if args.dry_run else "replayed"
    print(f"{done} {verb}, {failed} failed")
    return 1 if failed else 0


def _short(queue: str | None) -> str:
    return queue.rsplit("/", 1)[-1] if queue else "-"


def _time(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

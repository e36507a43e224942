"""``dead-letters list`` and ``dead-letters replay``: see and re-run the parked tasks.

The worker parks a copy of a task whose last attempt failed in its queue's ``dead_letter``
queue, a paused queue (``cloudtasks_kit.worker._dead_letters``); the ``X-CloudTasksKit-
DeadLetter-*`` headers of the copy say where it came from and why it failed. Here, with the
official client only, so against Google and the emulator alike:

- :func:`list_dead_letters` reads them (the FULL view: the BASIC one may leave bodies out);
- :func:`replay_dead_letters` re-creates each in its original queue, with the same URL, method,
  headers and body, a new name and the hooks the settings call for (OIDC, deadline), then
  deletes the letter, and only once the re-create succeeded. The new name is derived from the
  letter's, so replaying again a letter whose delete failed creates nothing twice while Cloud
  Tasks remembers the name (about an hour).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from google.api_core import exceptions
from google.cloud import tasks_v2

from .._errors import CloudTasksKitError
from .._hooks import DelayedTaskHook, run_hooks
from .._protocol import (
    DEAD_LETTER_ATTEMPTS,
    DEAD_LETTER_HEADERS,
    DEAD_LETTER_QUEUE,
    DEAD_LETTER_REASON,
    DEAD_LETTER_STATUS,
    DEAD_LETTER_TASK,
    TASK_RETENTION,
)
from ..settings import KitSettings

__all__ = [
    "DeadLetter",
    "DeadLetterNotFound",
    "Replay",
    "dead_letter_queue",
    "list_dead_letters",
    "replay_dead_letters",
]

# Stored with every task (Cloud Tasks sets it); a replay gets it again.
_SERVICE_SET = frozenset({"user-agent", *(name.lower() for name in DEAD_LETTER_HEADERS)})


class DeadLetterNotFound(CloudTasksKitError, LookupError):
    """A task named for replay is not in the dead-letter queue; nothing was replayed."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A task in a dead-letter queue and what its headers say about the original."""

    #: The letter's full task name in the dead-letter queue.
    name: str
    #: The queue the task came from (full path); ``None``: not parked by the kit.
    queue: str | None
    #: The original task's id.
    task_id: str | None
    attempts: int | None
    #: The status the worker would have answered the last attempt with.
    status: int | None
    reason: str
    url: str
    method: str
    #: When it was parked (the letter's create time), and when Cloud Tasks deletes it.
    parked_at: datetime | None
    expires_at: datetime | None
    task: tasks_v2.Task = field(compare=False, repr=False)

    @property
    def id(self) -> str:
        """The letter's task id (the last part of :attr:`name`)."""
        return self.name.rsplit("/", 1)[-1]

    @classmethod
    def of(cls, task: tasks_v2.Task) -> DeadLetter:
        http = task.http_request
        headers = {name.lower(): value for name, value in http.headers.items()}

        def number(header: str) -> int | None:
            value = headers.get(header.lower(), "")
            return int(value) if value.isascii() and value.isdigit() else None

        created: datetime | None = task.create_time or None
        return cls(
            name=task.name,
            queue=headers.get(DEAD_LETTER_QUEUE.lower()) or None,
            task_id=headers.get(DEAD_LETTER_TASK.lower()) or None,
            attempts=number(DEAD_LETTER_ATTEMPTS),
            status=number(DEAD_LETTER_STATUS),
            reason=headers.get(DEAD_LETTER_REASON.lower(), ""),
            url=http.url,
            method=tasks_v2.HttpMethod(http.http_method).name,
            parked_at=created,
            expires_at=created + TASK_RETENTION if created is not None else None,
            task=task,
        )


@dataclass(frozen=True, slots=True)
class Replay:
    """What replaying one letter did."""

    letter: DeadLetter
    #: The re-created task's name; ``None`` if it was not created (or in a dry run).
    task: str | None = None
    #: Whether the letter was deleted from the dead-letter queue.
    deleted: bool = False
    #: Why it failed; ``None`` when it went through.
    error: str | None = None


def dead_letter_queue(settings: KitSettings, queue: str) -> tuple[str, str | None]:
    """The dead-letter queue to read for ``queue``, and the original queue to keep letters of.

    :param queue: a dead-letter queue, or a queue whose settings name a ``dead_letter`` (then
        only its own letters are kept), as a key of ``queues``, a queue id or a full path.
    :returns: ``(dead-letter queue path, original queue path or None for every letter)``.
    :raises ConfigurationError: ``queue`` is none of these forms.
    """
    entry = settings.queue_settings(queue)
    if entry is not None and entry.dead_letter is not None:
        return settings.queue_path(entry.dead_letter), settings.queue_path(queue)
    return settings.queue_path(queue), None


def list_dead_letters(
    settings: KitSettings, client: tasks_v2.CloudTasksClient, queue: str
) -> list[DeadLetter]:
    """The letters of ``queue`` (see :func:`dead_letter_queue`), oldest first."""
    parent, original = dead_letter_queue(settings, queue)
    request = tasks_v2.ListTasksRequest(parent=parent, response_view=tasks_v2.Task.View.FULL)
    letters = [
        DeadLetter.of(task)
        for task in client.list_tasks(request=request, timeout=settings.task_create_timeout)
    ]
    kept = [letter for letter in letters if original is None or letter.queue == original]
    return sorted(
        kept, key=lambda letter: (letter.parked_at is None, letter.parked_at, letter.name)
    )


def replay_dead_letters(
    settings: KitSettings,
    client: tasks_v2.CloudTasksClient,
    hooks: Sequence[DelayedTaskHook],
    queue: str,
    tasks: Sequence[str] | None = None,
    *,
    dry_run: bool = False,
) -> list[Replay]:
    """Re-create letters in their original queues, deleting each once it is re-created.

    :param hooks: run on each request, as for ``.delay()`` (the container's ``delayed_hooks``:
        the OIDC token and deadline the settings give the original queue).
    :param tasks: the letters' ids or full names; ``None``: every letter.
    :param dry_run: change nothing; each :class:`Replay` says what would be done.
    :raises DeadLetterNotFound: a task of ``tasks`` is not there; nothing is replayed.
    """
    letters = list_dead_letters(settings, client, queue)
    if tasks is not None:
        by_name = {key: letter for letter in letters for key in (letter.name, letter.id)}
        missing = [task for task in tasks if task not in by_name]
        if missing:
            parent, _ = dead_letter_queue(settings, queue)
            raise DeadLetterNotFound(
                f"no dead letter {', '.join(map(repr, missing))} in {parent}"
                " (`cloudtasks-kit dead-letters list` shows them)"
            )
        letters = list({by_name[task].name: by_name[task] for task in tasks}.values())
    return [_replay(settings, client, hooks, letter, dry_run) for letter in letters]


def _replay(
    settings: KitSettings,
    client: tasks_v2.CloudTasksClient,
    hooks: Sequence[DelayedTaskHook],
    letter: DeadLetter,
    dry_run: bool,
) -> Replay:
    if letter.queue is None:
        return Replay(letter, error=f"not parked by the kit: it has no {DEAD_LETTER_QUEUE} header")
    http = letter.task.http_request
    request = tasks_v2.CreateTaskRequest(
        parent=letter.queue,
        task=tasks_v2.Task(
            name=f"{letter.queue}/tasks/{_replay_id(letter)}",
            http_request=tasks_v2.HttpRequest(
                url=http.url,
                http_method=http.http_method,
                headers={k: v for k, v in http.headers.items() if k.lower() not in _SERVICE_SET},
                body=http.body,
            ),
        ),
    )
    request = run_hooks(hooks, request)
    if dry_run:
        return Replay(letter)
    timeout = settings.task_create_timeout
    try:
        name = client.create_task(request=request, timeout=timeout).name
    except exceptions.AlreadyExists:
        name = request.task.name  # replayed before, and the letter's delete failed then
    except exceptions.GoogleAPICallError as exc:
        return Replay(letter, error=f"not re-created: {type(exc).__name__}: {exc.message}")
    try:
        client.delete_task(name=letter.name, timeout=timeout)
    except exceptions.NotFound:
        pass  # deleted meanwhile (another replay): it is gone either way
    except exceptions.GoogleAPICallError as exc:
        return Replay(
            letter,
            task=name,
            error=f"re-created but not deleted: {type(exc).__name__}: {exc.message}",
        )
    return Replay(letter, task=name, deleted=True)


def _replay_id(letter: DeadLetter) -> str:
    digest = hashlib.sha256(letter.name.encode()).hexdigest()[:16]
    return f"{digest}-{letter.task_id or 'replay'}"[:500]

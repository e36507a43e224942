"""``queues sync``: create or update the Cloud Tasks queues declared in settings.

Only the fields a queue's settings set are compared and written (``rate_limits``,
``retry``); what they leave unset stays as Cloud Tasks has it. ``max_burst_size`` is derived
by Cloud Tasks from the rate and cannot be set through the API, so it is never written.
Queues the settings do not declare are never touched.

A queue some queue names as its ``dead_letter`` is kept paused (the ``state`` field of the
plan): created then paused, and paused again if someone resumed it, so that nothing parked
there is ever dispatched. ``state`` is not a field UpdateQueue writes: PauseQueue does. Its
retention cannot be set: Cloud Tasks keeps a task for the queue's ``task_ttl``, 31 days unless
changed through the v2beta3 API, which the kit does not use; ``dead-letters list`` shows when
each letter expires.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from google.api_core import exceptions
from google.cloud import tasks_v2
from google.protobuf import field_mask_pb2

from .._action import Action
from .._errors import ConfigurationError
from .._rpc import CLOUD_TASKS, call_options, rpc_errors
from ..settings import KitSettings, QueueSettings
from ._plan import Change, Plan

__all__ = ["ensure_queues", "plan_queues"]

_RATE_FIELDS = ("max_dispatches_per_second", "max_concurrent_dispatches")
#: How the plan names a dead-letter queue's pause (``Queue.state``, set by PauseQueue).
_STATE = "state"
_RETRY_FIELDS = (
    "max_attempts",
    "min_backoff",
    "max_backoff",
    "max_doublings",
    "max_retry_duration",
)


def desired_queues(settings: KitSettings) -> dict[str, dict[str, Any]]:
    """Queue path -> the fields its settings set, as ``{"rate_limits.x": value, ...}``."""
    desired: dict[str, dict[str, Any]] = {}
    for key, queue in settings.queues.items():
        desired[settings.queue_path(key)] = _fields(queue)
    if settings.default_queue is not None:
        desired.setdefault(settings.queue_path(), {})
    return desired


def plan_queues(settings: KitSettings, client: Any) -> Plan:
    """The plan; one GetQueue per declared queue, each within ``rpc_timeout``.

    :raises ServiceUnreachable: Cloud Tasks (or the emulator) did not answer.
    :raises ConfigurationError: a queue path cannot be built, or Google refused the call.
    """
    plan = Plan("queue")
    call = partial(_call, settings, client)
    paused = dead_letter_queues(settings)
    for name, wanted in sorted(desired_queues(settings).items()):
        pause = name in paused
        try:
            current = call("get_queue", name=name)
        except exceptions.NotFound:
            queue = _queue(name, wanted)
            parent = name.rsplit("/queues/", 1)[0]
            plan.changes.append(
                Change(
                    Action.CREATE,
                    name,
                    tuple(sorted(wanted)) + ((_STATE,) if pause else ()),
                    partial(_create, call, parent, queue, pause=pause),
                    tuple(f"{path}: {_show(wanted[path])}" for path in sorted(wanted))
                    + ((f"{_STATE}: PAUSED",) if pause else ()),
                )
            )
            continue
        differing = tuple(
            sorted(path for path, value in wanted.items() if _current(current, path) != value)
        )
        repause = pause and current.state != tasks_v2.Queue.State.PAUSED
        if not differing and not repause:
            plan.changes.append(Change(Action.UNCHANGED, name))
            continue
        queue = _queue(name, {path: wanted[path] for path in differing})
        mask = field_mask_pb2.FieldMask(paths=list(differing))
        plan.changes.append(
            Change(
                Action.UPDATE,
                name,
                differing + ((_STATE,) if repause else ()),
                partial(_update, call, queue, mask, pause=repause),
                tuple(
                    f"{path}: {_show(_current(current, path))} -> {_show(wanted[path])}"
                    for path in differing
                )
                + ((f"{_STATE}: {current.state.name} -> PAUSED",) if repause else ()),
            )
        )
    return plan


def dead_letter_queues(settings: KitSettings) -> set[str]:
    """The paths of the queues the settings name as a ``dead_letter``: kept paused."""
    return {
        settings.queue_path(queue.dead_letter)
        for queue in settings.queues.values()
        if queue.dead_letter is not None
    }


def _call(settings: KitSettings, client: Any, method: str, **arguments: Any) -> Any:
    with rpc_errors(settings, CLOUD_TASKS):
        return getattr(client, method)(**arguments, **call_options(settings))


def _show(value: Any) -> str:
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}s"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def ensure_queues(settings: KitSettings, client: Any) -> Plan:
    """Plan and apply at once, e.g. in an application's lifespan (never at import).

    :raises ConfigurationError: listing every queue that could not be created or updated.
    """
    plan = plan_queues(settings, client)
    failures = plan.apply()
    if failures:
        raise ConfigurationError(
            "queues sync failed: "
            + "; ".join(f"{f.change.action} {f.change.name}: {f.error}" for f in failures)
        )
    return plan


def _create(call: Callable[..., Any], parent: str, queue: tasks_v2.Queue, *, pause: bool) -> None:
    # Two calls (CreateQueue cannot create a paused queue); if the pause fails, the next sync
    # pauses it, and the worker parks nothing in a queue that is not paused meanwhile.
    call("create_queue", parent=parent, queue=queue)
    if pause:
        call("pause_queue", name=queue.name)


def _update(
    call: Callable[..., Any],
    queue: tasks_v2.Queue,
    mask: field_mask_pb2.FieldMask,
    *,
    pause: bool,
) -> None:
    if mask.paths:
        call("update_queue", queue=queue, update_mask=mask)
    if pause:
        call("pause_queue", name=queue.name)


def _fields(queue: QueueSettings) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if queue.rate_limits is not None:
        for name in _RATE_FIELDS:
            value = getattr(queue.rate_limits, name)
            if value is not None:
                fields[f"rate_limits.{name}"] = value
    if queue.retry is not None:
        for name in _RETRY_FIELDS:
            value = getattr(queue.retry, name)
            if value is not None:
                fields[f"retry_config.{name}"] = value
    return fields


def _queue(name: str, fields: dict[str, Any]) -> tasks_v2.Queue:
    queue = tasks_v2.Queue(name=name)
    for path, value in fields.items():
        section, attribute = path.split(".")
        setattr(getattr(queue, section), attribute, value)
    return queue


def _current(queue: tasks_v2.Queue, path: str) -> Any:
    section, attribute = path.split(".")
    return getattr(getattr(queue, section), attribute)

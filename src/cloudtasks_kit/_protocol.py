"""What Cloud Tasks and Cloud Scheduler define: header names, id patterns, limits, defaults.

One home for the facts the producer, the worker side and the emulator must agree on, so that
no two of them can drift apart. Facts only, plus the checks that are nothing but a fact
applied to a value; each cites where Google documents it (the installed clients' docstrings
in ``google/cloud/tasks_v2/types`` and ``google/cloud/scheduler_v1/types``, and
``SEMANTICS.md`` beside this checkout). Nothing here imports the rest of the kit.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

__all__: list[str] = []  # private: the kit's modules and the emulator import names directly

# --- headers Cloud Tasks sends with each attempt of an HTTP task --------------------------------

QUEUE_NAME: Final = "X-CloudTasks-QueueName"
TASK_NAME: Final = "X-CloudTasks-TaskName"
TASK_RETRY_COUNT: Final = "X-CloudTasks-TaskRetryCount"
TASK_EXECUTION_COUNT: Final = "X-CloudTasks-TaskExecutionCount"
TASK_ETA: Final = "X-CloudTasks-TaskETA"
TASK_PREVIOUS_RESPONSE: Final = "X-CloudTasks-TaskPreviousResponse"
TASK_RETRY_REASON: Final = "X-CloudTasks-TaskRetryReason"
#: Sent on every attempt: any one of them means a request claims to be a task attempt.
TASK_ATTEMPT_HEADERS: Final = (
    QUEUE_NAME,
    TASK_NAME,
    TASK_RETRY_COUNT,
    TASK_EXECUTION_COUNT,
    TASK_ETA,
)
TASKS_USER_AGENT: Final = "Google-Cloud-Tasks"

# --- headers Cloud Scheduler sends with each attempt of an HTTP job ------------------------------

SCHEDULER: Final = "X-CloudScheduler"
SCHEDULER_JOB_NAME: Final = "X-CloudScheduler-JobName"
SCHEDULER_SCHEDULE_TIME: Final = "X-CloudScheduler-ScheduleTime"
SCHEDULER_USER_AGENT: Final = "Google-Cloud-Scheduler"
#: ``HttpTarget.headers``: a job with a body and no ``Content-Type`` gets this one.
SCHEDULER_CONTENT_TYPE: Final = "application/octet-stream"

# --- what an attempt carries that is not the task's own -----------------------------------------

#: ``HttpRequest.headers``: "Host: This will be computed by Cloud Tasks", "Content-Length: This
#: will be computed", "User-Agent: This will be set to Google-Cloud-Tasks"; and with an
#: ``oidc_token`` / ``oauth_token`` the token is sent as ``Authorization``. Lower-case.
ATTEMPT_ADDED_HEADERS: Final = frozenset({"host", "content-length", "user-agent", "authorization"})
#: ``X-CloudTasks-*`` are set by the service on each attempt; ``X-Google-*`` and
#: ``X-AppEngine-*`` are "Google use only". Lower-case.
ATTEMPT_ADDED_PREFIXES: Final = ("x-cloudtasks-", "x-google-", "x-appengine-")
#: How long Cloud Tasks keeps a task, dispatched or not, paused queue or not: v2beta3's
#: ``Queue.task_ttl`` says "Queues created by Cloud Tasks have a default task_ttl of 31 days"
#: (settable there from 10 days to 10 years); the v2 API has no field for it.
TASK_RETENTION: Final = timedelta(days=31)

# --- dead letters: the kit's headers on the parked copy of a task that exhausted its attempts --

#: The full path of the queue the task came from (``projects/P/locations/L/queues/Q``).
DEAD_LETTER_QUEUE: Final = "X-CloudTasksKit-DeadLetter-Queue"
#: The original task's id (short form).
DEAD_LETTER_TASK: Final = "X-CloudTasksKit-DeadLetter-Task"
#: How many attempts the task had (the failed last one included).
DEAD_LETTER_ATTEMPTS: Final = "X-CloudTasksKit-DeadLetter-Attempts"
#: The HTTP status the worker would have answered the last attempt with.
DEAD_LETTER_STATUS: Final = "X-CloudTasksKit-DeadLetter-Status"
#: Why the last attempt failed, on one line.
DEAD_LETTER_REASON: Final = "X-CloudTasksKit-DeadLetter-Reason"
DEAD_LETTER_HEADERS: Final = (
    DEAD_LETTER_QUEUE,
    DEAD_LETTER_TASK,
    DEAD_LETTER_ATTEMPTS,
    DEAD_LETTER_STATUS,
    DEAD_LETTER_REASON,
)

# --- ids and resource names ---------------------------------------------------------------------

#: ``Queue.name``: QUEUE_ID "can contain letters ([A-Za-z]), numbers ([0-9]), or hyphens (-).
#: The maximum length is 100 characters."
QUEUE_ID: Final = re.compile(r"[A-Za-z0-9-]{1,100}")
#: ``Task.name``: TASK_ID "can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-),
#: or underscores (_). The maximum length is 500 characters."
TASK_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,500}")
#: ``Job.name``: JOB_ID "can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-),
#: or underscores (_). The maximum length is 500 characters."
JOB_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,500}")
#: What a job id may start with: the characters of a job id, any number of them.
JOB_ID_CHARACTERS: Final = re.compile(r"[A-Za-z0-9_-]*")
#: A full queue path whose project and location are single path segments.
QUEUE_PATH: Final = re.compile(
    r"projects/([^/\s]+)/locations/([^/\s]+)/queues/([A-Za-z0-9-]{1,100})"
)
#: A project or location id as it stands in a resource path (``projects/P/locations/L``): one
#: segment, no '/' and no space, as in :data:`QUEUE_PATH`. Looser than Google's rules for the
#: ids themselves, which the API enforces; enough that a path built from it cannot shift.
RESOURCE_SEGMENT: Final = re.compile(r"[^/\s]+")

# --- limits -------------------------------------------------------------------------------------

#: ``Task.dispatch_deadline`` for HTTP tasks, and Cloud Scheduler's ``Job.attempt_deadline``
#: for HTTP targets: "between 15 seconds and 30 minutes".
MIN_DEADLINE: Final = timedelta(seconds=15)
MAX_DEADLINE: Final = timedelta(minutes=30)
#: ``Task.dispatch_deadline`` when the task sets none: "The default is 10 minutes."
DEFAULT_DISPATCH_DEADLINE: Final = timedelta(minutes=10)
#: ``Job.attempt_deadline`` for HTTP targets when the job sets none: 3 minutes.
DEFAULT_ATTEMPT_DEADLINE: Final = timedelta(minutes=3)
#: ``Task.schedule_time`` may be at most 30 days in the future.
MAX_SCHEDULE_AHEAD: Final = timedelta(days=30)
#: "The maximum task size is 1MB" (HTTP target tasks); a Cloud Scheduler job likewise.
MAX_TASK_SIZE: Final = 1024 * 1024
MAX_JOB_SIZE: Final = 1024 * 1024
#: ``RetryConfig.retry_count`` of a Cloud Scheduler job: "values between 0 and 5".
MAX_JOB_RETRY_COUNT: Final = 5
#: A job's ``RetryConfig`` when it sets none: ``min_backoff_duration`` "5 seconds",
#: ``max_backoff_duration`` "1 hour", ``max_doublings`` "5".
DEFAULT_JOB_MIN_BACKOFF: Final = timedelta(seconds=5)
DEFAULT_JOB_MAX_BACKOFF: Final = timedelta(hours=1)
DEFAULT_JOB_MAX_DOUBLINGS: Final = 5
#: The default timeout of every Cloud Tasks client method (``default_timeout=20.0`` in the
#: generated ``tasks_v2`` transport). Cloud Scheduler's client allows 600 s, which against an
#: unreachable endpoint is a ten-minute hang: the kit holds both to this one.
DEFAULT_RPC_TIMEOUT: Final = 20.0
#: ``RateLimits.max_dispatches_per_second`` and ``max_concurrent_dispatches`` of a queue:
#: "The maximum allowed value is 500" and "is 5,000".
MAX_DISPATCHES_PER_SECOND: Final = 500
MAX_CONCURRENT_DISPATCHES: Final = 5000


def check_deadline(value: object, what: str = "deadline") -> timedelta:
    """A dispatch or attempt deadline as Google accepts it: seconds, a ``timedelta`` or a
    protobuf ``Duration`` between :data:`MIN_DEADLINE` and :data:`MAX_DEADLINE`.

    :raises TypeError: not a duration.
    :raises ValueError: outside the limits; the message names ``what``.
    """
    to_timedelta = getattr(value, "ToTimedelta", None)  # a protobuf Duration
    if callable(to_timedelta):
        value = to_timedelta()
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"{what}: expected seconds or a timedelta, got {value!r}")
    low, high = MIN_DEADLINE.total_seconds(), MAX_DEADLINE.total_seconds()
    if not low <= seconds <= high:
        raise ValueError(f"{what}: must be 15 s to 30 min, got {seconds:g} s")
    return timedelta(seconds=seconds)

"""What Cloud Tasks and Cloud Scheduler define: header names, id patterns, limits, defaults.

One home for the facts the producer, the worker side and the emulator must agree on, so that
no two of them can drift apart. Facts only, plus the checks that are nothing but a fact
applied to a value; each cites where Google documents it (the installed clients' docstrings
in ``google/cloud/tasks_v2/types`` and ``google/cloud/scheduler_v1/types``, and
``SEMANTICS.md`` beside this checkout). Nothing here imports the rest of the kit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

__all__: list[str] = []  # private: the kit's modules and the emulator import names directly

#: Headers that describe one HTTP connection (RFC 9110, 7.6.1), never a task's: whoever sends
#: a request sends its own.
HOP_BY_HOP_HEADERS: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

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

# --- what happens to the headers a caller gives a task or a job ---------------------------------

#: ``HttpRequest.headers`` and ``HttpTarget.headers``: "The size of the headers must be less than
#: 80KB." How Google counts is not documented; here (believed) as on the wire: each name and
#: value in UTF-8 plus ": " and CRLF.
MAX_HEADERS_SIZE: Final = 80 * 1024
#: A header name is an RFC 9110 token.
HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Control characters a header value cannot carry (RFC 9110 allows HTAB, nothing else below
#: SP, and no DEL): CR/LF would split the request, NUL makes it unsendable.
_VALUE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_NAMES = {"\r": "CR", "\n": "LF", "\x00": "NUL"}


@dataclass(frozen=True, slots=True)
class HeaderRules:
    """What a service does with the headers a caller gives (``HttpRequest.headers`` of a task,
    ``HttpTarget.headers`` of a job), as its reference lists them.

    Names match case-insensitively; lower-case here.
    """

    #: The ``User-Agent`` every request carries, whatever the caller set.
    user_agent: str
    #: Headers the service computes or sets itself: a caller's value never reaches the worker.
    replaced: frozenset[str]
    #: Prefixes of headers for Google's use only: a caller's are dropped.
    reserved_prefixes: tuple[str, ...]
    #: Set when a body comes without a ``Content-Type`` (Cloud Scheduler does, Cloud Tasks not).
    default_content_type: str | None = None

    def keeps(self, name: str) -> bool:
        """Whether a caller's header of this name reaches the worker."""
        lower = name.lower()
        return lower not in self.replaced and not lower.startswith(self.reserved_prefixes)


#: ``HttpRequest.headers``: "Host: This will be computed by Cloud Tasks", "Content-Length: This
#: will be computed", "User-Agent: This will be set to Google-Cloud-Tasks", "X-Google-*: Google
#: use only", "X-AppEngine-*: Google use only". The ``X-CloudTasks-*`` headers are set by the
#: service on each attempt (SEMANTICS.md): a caller's values for them are dropped as well.
TASK_HEADER_RULES: Final = HeaderRules(
    user_agent=TASKS_USER_AGENT,
    replaced=frozenset({"host", "content-length", "user-agent"}),
    reserved_prefixes=("x-google-", "x-appengine-", "x-cloudtasks-"),
)
#: ``HttpTarget.headers`` of Cloud Scheduler: Host, Content-Length and User-Agent as above,
#: "X-Google-*" and "X-AppEngine-*" for "Google internal use only", and ``X-CloudScheduler``
#: ("set to true"), ``-JobName`` and ``-ScheduleTime`` set by the service; a body without
#: ``Content-Type`` gets ``application/octet-stream``.
JOB_HEADER_RULES: Final = HeaderRules(
    user_agent=SCHEDULER_USER_AGENT,
    replaced=frozenset(
        {
            "host",
            "content-length",
            "user-agent",
            SCHEDULER.lower(),
            SCHEDULER_JOB_NAME.lower(),
            SCHEDULER_SCHEDULE_TIME.lower(),
        }
    ),
    reserved_prefixes=("x-google-", "x-appengine-"),
    default_content_type=SCHEDULER_CONTENT_TYPE,
)


def apply_header_rules(
    headers: Mapping[str, str],
    rules: HeaderRules,
    *,
    body: bool = False,
    token: bool = False,
    service: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers a request carries, from the caller's ``headers`` under ``rules``.

    Dropped: what the service computes, replaces or reserves, the caller's ``Authorization``
    when the request carries a token (``token``: the token's header is *the* Authorization
    header), and any header the ``service`` itself sets on this attempt. Then ``User-Agent``,
    the default ``Content-Type`` when there is a ``body`` without one, and the ``service``
    headers are added. Names match case-insensitively and each header appears once (the first
    of the caller's spellings wins; the service's own spelling replaces any of them).
    """
    taken = {name.lower() for name in service or ()}
    if token:
        taken.add("authorization")
    result: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        lower = name.lower()
        if lower in seen or lower in taken or not rules.keeps(name):
            continue
        seen.add(lower)
        result[name] = value
    result["User-Agent"] = rules.user_agent
    if rules.default_content_type is not None and body and "content-type" not in seen:
        result["Content-Type"] = rules.default_content_type
    result.update(service or {})
    return result


def header_problem(name: str, value: str) -> str | None:
    """Why one header cannot be sent as given (a name that is not a token, a control character
    such as CR, LF or NUL in the value), or ``None``."""
    if not HEADER_NAME.fullmatch(name):
        return f"{name!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)"
    found = _VALUE_CONTROL.search(value)
    if found is not None:
        char = found.group()
        shown = _CONTROL_NAMES.get(char, f"U+{ord(char):04X}")
        return f"header {name!r}: its value holds the control character {shown}"
    return None


# Every name a token, one per line: all of a request's names checked in one match.
_NAME_LINES = re.compile(rf"{HEADER_NAME.pattern}(?:\n{HEADER_NAME.pattern})*")


def _all_fine(headers: Mapping[str, str]) -> bool:
    """:func:`header_problems` would find nothing: the same checks, on all headers at once
    (every task's headers are checked, and nearly all are fine)."""
    if not headers:
        return True
    names = "\n".join(headers)
    values = "".join(headers.values())
    count = len(headers)
    # (A name holding a newline would pass as two: the newlines must be the separators only.)
    if names.count("\n") != count - 1 or _NAME_LINES.fullmatch(names) is None:
        return False
    if _VALUE_CONTROL.search(values) is not None:
        return False
    if len({name.lower() for name in headers}) != len(headers):
        return False
    # Names are ASCII tokens here: their length is their size in bytes, newlines aside.
    size = len(names) - (count - 1) + len(values.encode()) + 4 * count
    return size < MAX_HEADERS_SIZE


def headers_size(headers: Mapping[str, str]) -> int:
    """The size of ``headers`` as :data:`MAX_HEADERS_SIZE` counts it."""
    return sum(len(name.encode()) + len(value.encode()) + 4 for name, value in headers.items())


def header_problems(headers: Mapping[str, str]) -> list[str]:
    """Everything that keeps ``headers`` from being sent as given, one line each: a bad name or
    value (:func:`header_problem`), one header under two spellings, the total over Google's
    limit. Empty when they are fine."""
    return [] if _all_fine(headers) else _problems(headers)


def _problems(headers: Mapping[str, str]) -> list[str]:
    problems = [p for name, value in headers.items() if (p := header_problem(name, value))]
    first: dict[str, str] = {}
    for name in headers:
        known = first.setdefault(name.lower(), name)
        if known != name:
            problems.append(
                f"headers {known!r} and {name!r} are one header (names are case-insensitive); "
                "give it once, several values joined by commas"
            )
    size = headers_size(headers)
    if size >= MAX_HEADERS_SIZE:
        problems.append(
            f"the headers take {size} bytes; Google allows less than 80 KB ({MAX_HEADERS_SIZE})"
        )
    return problems


# --- what an attempt carries that is not the task's own -----------------------------------------

#: What the service sets on an attempt (:data:`TASK_HEADER_RULES`), and with an ``oidc_token``
#: / ``oauth_token`` the ``Authorization`` header. Lower-case.
ATTEMPT_ADDED_HEADERS: Final = TASK_HEADER_RULES.replaced | {"authorization"}
ATTEMPT_ADDED_PREFIXES: Final = TASK_HEADER_RULES.reserved_prefixes
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

#: ``Queue.name`` and ``Job.name``: PROJECT_ID "can contain letters ([A-Za-z]), numbers ([0-9]),
#: hyphens (-), colons (:), or periods (.)": domain-scoped ids ("example.com:my-project") and
#: project numbers ("123456789012"), which Google APIs take wherever a project id goes, too.
PROJECT_ID: Final = re.compile(r"[A-Za-z0-9.:-]+")
#: LOCATION_ID "is the canonical ID for the queue's location" (``us-central1``): letters, digits
#: and hyphens. Google's list of locations is not known here, so no location is refused for
#: not being on it.
LOCATION_ID: Final = re.compile(r"[A-Za-z0-9-]+")
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
#: ``projects/PROJECT_ID/locations/LOCATION_ID``, the parent of queues and jobs.
LOCATION_PATH: Final = re.compile(
    rf"projects/(?P<project>{PROJECT_ID.pattern})/locations/(?P<location>{LOCATION_ID.pattern})"
)
#: A full queue path: ``projects/PROJECT_ID/locations/LOCATION_ID/queues/QUEUE_ID``.
QUEUE_PATH: Final = re.compile(rf"{LOCATION_PATH.pattern}/queues/(?P<queue>{QUEUE_ID.pattern})")
#: A full job path: ``projects/PROJECT_ID/locations/LOCATION_ID/jobs/JOB_ID``.
JOB_PATH: Final = re.compile(rf"{LOCATION_PATH.pattern}/jobs/(?P<job>{JOB_ID.pattern})")

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
#: ``BatchCreateTasksRequest.requests``: "The maximum number of requests is 100", all for the
#: batch's queue; ``BatchDeleteTasksRequest.names``: "A maximum of 1000 tasks".
MAX_BATCH_CREATE: Final = 100
MAX_BATCH_DELETE: Final = 1000


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

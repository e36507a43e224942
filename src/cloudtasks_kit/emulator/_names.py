"""Resource names of queues, tasks and jobs: parsing, the errors Google gives for bad ones,
and the ids the services mint."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from .._protocol import JOB_PATH, LOCATION_PATH, QUEUE_PATH, TASK_ID
from ._errors import invalid_argument

__all__ = [
    "QueueName",
    "location_of",
    "new_resource_id",
    "parse_job_name",
    "parse_queue_name",
    "parse_task_name",
]

# Names as Google documents them (Queue.name, Task.name, Job.name): project ids of letters in
# either case, digits, '-', ':' and '.' (project numbers too), location ids of letters, digits
# and '-' (any of them: the emulator cannot know Google's list of locations).
_TASK_RE = re.compile(rf"(?P<parent>{QUEUE_PATH.pattern})/tasks/(?P<task>{TASK_ID.pattern})")
_ABOUT_IDS = "PROJECT letters, digits, '-', ':' or '.'; LOCATION letters, digits or '-'"


@dataclass(frozen=True, slots=True)
class QueueName:
    project: str
    location: str
    queue: str

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def __str__(self) -> str:
        return f"{self.parent}/queues/{self.queue}"


def location_of(name: str, field: str = "parent") -> str:
    if not LOCATION_PATH.fullmatch(name):
        raise invalid_argument(
            f"{field}: {name!r} is not a location name (projects/PROJECT/locations/LOCATION, "
            f"{_ABOUT_IDS})"
        )
    return name


def parse_queue_name(name: str, field: str = "name") -> QueueName:
    match = QUEUE_PATH.fullmatch(name)
    if match is None:
        raise invalid_argument(
            f"{field}: {name!r} is not a queue name "
            "(projects/PROJECT/locations/LOCATION/queues/QUEUE_ID, "
            f"the id 1-100 letters, digits or hyphens; {_ABOUT_IDS})"
        )
    return QueueName(match["project"], match["location"], match["queue"])


def parse_task_name(name: str, field: str = "name") -> tuple[str, str]:
    """Return (queue name, task id)."""
    match = _TASK_RE.fullmatch(name)
    if match is None:
        raise invalid_argument(
            f"{field}: {name!r} is not a task name "
            "(projects/P/locations/L/queues/Q/tasks/TASK_ID, the id 1-500 letters, digits, "
            "hyphens or underscores)"
        )
    return match["parent"], match["task"]


def parse_job_name(name: str, field: str = "name") -> str:
    """The location of a job name (projects/P/locations/L/jobs/JOB_ID), or INVALID_ARGUMENT."""
    match = JOB_PATH.fullmatch(name)
    if match is None:
        raise invalid_argument(
            f"{field}: {name!r} is not a job name (projects/PROJECT/locations/LOCATION/jobs/"
            f"JOB_ID, the id 1-500 letters, digits, hyphens or underscores; {_ABOUT_IDS})"
        )
    return name.rsplit("/jobs/", 1)[0]


def new_resource_id() -> str:
    """The id of a task or job created without a name.

    Google's generated ids are long decimal numbers; random ones also spread well.
    """
    return str(secrets.randbits(63) | (1 << 62))

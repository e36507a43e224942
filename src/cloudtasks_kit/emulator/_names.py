"""Resource names of queues and tasks: parsing, and the errors Google gives for bad ones."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from ._errors import invalid_argument

__all__ = ["QueueName", "location_of", "new_task_id", "parse_queue_name", "parse_task_name"]

# Project ids may be domain-scoped ("example.com:my-project"); locations are region names.
_PROJECT = r"[a-z][a-z0-9.:-]{0,62}[a-z0-9]"
_LOCATION = r"[a-z][a-z0-9-]{0,62}"
_LOCATION_RE = re.compile(rf"projects/(?P<project>{_PROJECT})/locations/(?P<location>{_LOCATION})")
_QUEUE_RE = re.compile(rf"{_LOCATION_RE.pattern}/queues/(?P<queue>[A-Za-z0-9-]{{1,100}})")
_TASK_RE = re.compile(rf"(?P<parent>{_QUEUE_RE.pattern})/tasks/(?P<task>[A-Za-z0-9_-]{{1,500}})")


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
    if not _LOCATION_RE.fullmatch(name):
        raise invalid_argument(
            f"{field}: {name!r} is not a location name (projects/PROJECT/locations/LOCATION)"
        )
    return name


def parse_queue_name(name: str, field: str = "name") -> QueueName:
    match = _QUEUE_RE.fullmatch(name)
    if match is None:
        raise invalid_argument(
            f"{field}: {name!r} is not a queue name "
            "(projects/PROJECT/locations/LOCATION/queues/QUEUE_ID, "
            "the id 1-100 letters, digits or hyphens)"
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


def new_task_id() -> str:
    # Google's generated ids are long decimal numbers; random ones also spread well.
    return str(secrets.randbits(63) | (1 << 62))

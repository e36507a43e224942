"""What applying a declaration did, or would do, to a resource (a queue or a job)."""

from __future__ import annotations

import enum

__all__ = ["Action"]


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"

"""The mark the worker side puts on its dependencies, and the producer side respects.

A dependency the worker resolves from the task's request itself (the ``X-CloudTasks-*``
headers, the ``Authorization`` token, ...) carries this mark on its callable (a function
attribute, or a class attribute of a callable class). The route binder skips a marked
dependency and everything below it, so a ``Request`` there is allowed and none of its
parameters become ``.delay()`` keywords. Kept apart from both sides so that neither imports
the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__: list[str] = []

WORKER_DEPENDENCY_ATTRIBUTE = "__cloudtasks_worker_dependency__"

_C = TypeVar("_C", bound=Callable[..., Any])


def mark_worker_dependency(call: _C) -> _C:
    """Mark a dependency as resolved by the worker from the request itself."""
    setattr(call, WORKER_DEPENDENCY_ATTRIBUTE, True)
    return call


def is_worker_dependency(call: object) -> bool:
    return getattr(call, WORKER_DEPENDENCY_ATTRIBUTE, False) is True

"""``@scheduled``: schedules declared in code, for ``cloudtasks-kit schedules sync``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from ._spec import JobRetry, JobSpec, job_spec

__all__ = ["scheduled"]

# Kept on the endpoint function until its route is declared (the route reads it then).
_DECLARATIONS = "__cloudtasks_schedules__"

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Declaration:
    spec: JobSpec
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def scheduled(
    *,
    name: str,
    schedule: str,
    time_zone: str = "UTC",
    kwargs: Mapping[str, Any] | None = None,
    retry: JobRetry | Mapping[str, Any] | None = None,
    attempt_deadline: timedelta | float | None = None,
    description: str = "",
    paused: bool = False,
) -> Callable[[_F], _F]:
    """Declare a schedule of a route in code, for ``cloudtasks-kit schedules sync``.

    Put it below the router decorator; several may be stacked. ``kwargs`` are the route's
    arguments, validated when the route is declared.
    """
    declaration = Declaration(
        job_spec(name, schedule, time_zone, retry, attempt_deadline, description, paused),
        dict(kwargs or {}),
    )

    def decorate(endpoint: _F) -> _F:
        setattr(endpoint, _DECLARATIONS, [*declarations_of(endpoint), declaration])
        return endpoint

    return decorate


def declarations_of(endpoint: Callable[..., Any]) -> tuple[Declaration, ...]:
    return tuple(getattr(endpoint, _DECLARATIONS, ()))

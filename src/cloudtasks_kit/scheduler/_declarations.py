"""``@scheduled``: schedules declared in code, for ``cloudtasks-kit schedules sync``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, Unpack

from ._spec import JobArguments, JobSpec, job_spec

__all__ = ["scheduled"]

# Kept on the endpoint function until its route is declared (the route reads it then).
_DECLARATIONS = "__cloudtasks_schedules__"

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Declaration:
    spec: JobSpec
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def scheduled(
    *, kwargs: Mapping[str, Any] | None = None, **arguments: Unpack[JobArguments]
) -> Callable[[_F], _F]:
    """Declare a schedule of a route in code, for ``cloudtasks-kit schedules sync``.

    Put it below the router decorator; several may be stacked. ``kwargs`` are the route's
    arguments, validated when the route is declared; the rest describe the job (``name``,
    ``schedule``, ``time_zone``, ``retry``, ...), checked here.
    """
    declaration = Declaration(job_spec(**arguments), dict(kwargs or {}))

    def decorate(endpoint: _F) -> _F:
        setattr(endpoint, _DECLARATIONS, [*declarations_of(endpoint), declaration])
        return endpoint

    return decorate


def declarations_of(endpoint: Callable[..., Any]) -> tuple[Declaration, ...]:
    return tuple(getattr(endpoint, _DECLARATIONS, ()))

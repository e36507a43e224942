"""Plan, then apply: bring Cloud Tasks queues or Cloud Scheduler jobs in line with the code.

A :class:`Plan` lists one :class:`Change` per resource (create, update with the differing
fields, delete, or unchanged); ``render()`` says what applying it would do (``--dry-run``) and
``apply()`` carries it out change by change, reporting a line per resource as it goes, so that
one failure is reported with its resource and the others still go through. Each change is a
single API call (create, update with a field mask, or delete), so a failed one leaves no
resource half-written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .._action import Action
from .._errors import ConfigurationError, ServiceUnreachable

__all__ = ["Change", "Failure", "Plan"]

_WOULD = {
    Action.CREATE: "would create",
    Action.UPDATE: "would update",
    Action.DELETE: "would delete",
    Action.UNCHANGED: "unchanged",
}
_DONE = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.DELETE: "deleted",
    Action.UNCHANGED: "unchanged",
}
_WIDTH = max(len(text) for text in (*_WOULD.values(), *_DONE.values()))


@dataclass(frozen=True)
class Change:
    action: Action
    name: str
    fields: tuple[str, ...] = ()
    # The API call that makes the change; none for UNCHANGED.
    call: Callable[[], object] | None = field(default=None, compare=False, repr=False)
    #: One line per field: ``path: old -> new`` for an update, ``path: value`` for a create.
    details: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Failure:
    change: Change
    error: str


@dataclass
class Plan:
    kind: str  # "queue" or "job"
    changes: list[Change] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action is action)

    def summary(self) -> str:
        """``1 create, 2 update, 0 delete, 3 unchanged``."""
        return ", ".join(f"{self.count(a)} {a.value}" for a in Action)

    def render(self) -> str:
        """What applying the plan would do, a line per resource and one per differing field,
        then the counts."""
        lines = [line for change in self.changes for line in _lines(_WOULD, change)]
        return "\n".join([*lines, f"dry run, nothing changed: {self.summary()}"])

    def apply(self, report: Callable[[str], object] | None = None) -> list[Failure]:
        """Carry out every change in order; ``report`` gets a line per resource as it is done.

        :raises ServiceUnreachable: the API stopped answering (every later change would wait
            for the deadline and fail the same way); the changes before it are made.
        :raises ConfigurationError: Google refused the credentials or the project.
        """
        failures: list[Failure] = []
        for change in self.changes:
            try:
                if change.call is not None:
                    change.call()
            except (ServiceUnreachable, ConfigurationError):
                raise
            except Exception as exc:  # reported per resource; the rest of the plan goes on
                failure = Failure(change, f"{type(exc).__name__}: {_first_line(exc)}")
                failures.append(failure)
                if report is not None:
                    report(f"failed: {change.action} {change.name}: {failure.error}")
                continue
            if report is not None:
                for line in _lines(_DONE, change):
                    report(line)
        return failures


def _lines(verbs: dict[Action, str], change: Change) -> list[str]:
    head = f"{verbs[change.action].ljust(_WIDTH)}  {change.name}"
    return [head, *(f"{'':{_WIDTH}}    {detail}" for detail in change.details)]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
